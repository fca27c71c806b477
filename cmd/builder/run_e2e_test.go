package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ocibuilder/builder/internal/testutil"
)

func TestAppExampleWithRunSteps(t *testing.T) {
	s := setup(t)
	ctx := filepath.Join(testutil.RepoRoot(t), "examples", "app")
	out := filepath.Join(t.TempDir(), "greeter.tar")
	root := t.TempDir()
	r := runBuilder(t, s.builder, nil, "build", "--root", root, "--progress", "plain",
		"--build-context", "busybox=oci-layout://"+s.busybox+":latest", "--build-arg", "VERSION=2.0",
		"-t", "greeter:2.0", "-o", "type=oci,dest="+out, ctx)
	mustSucceed(t, r)
	if !strings.Contains(r.stderr, "greet 2.0: ok") {
		t.Errorf("RUN output not shown in the progress:\n%s", r.stderr)
	}
	layout := t.TempDir()
	untar(t, out, layout)
	rootfs := umociUnpack(t, layout, "2.0")
	greet, err := os.ReadFile(filepath.Join(rootfs, "usr/local/bin/greet"))
	if err != nil || !bytes.Contains(greet, []byte("greet 2.0")) {
		t.Errorf("greet script not built with VERSION=2.0: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(rootfs, "home/app")); err == nil {
		t.Error("/home/app removed by a RUN step is still in the image (missing whiteout)")
	}
	if l, err := os.Readlink(filepath.Join(rootfs, "usr/bin/hello")); err != nil || l != "/usr/local/bin/greet" {
		t.Errorf("symlink made by RUN: %q, %v", l, err)
	}
	fi, err := os.Stat(filepath.Join(rootfs, "var/lib/greeter"))
	if err != nil || fi.Sys().(*syscall.Stat_t).Uid != 500 {
		t.Errorf("chown in RUN not kept: %v", err)
	}
	for _, stub := range []string{"etc/hosts", "etc/resolv.conf", "etc/hostname"} {
		if _, err := os.Lstat(filepath.Join(rootfs, stub)); err == nil {
			t.Errorf("sandbox file /%s leaked into the image", stub)
		}
	}
	checkNoMounts(t, root)
}

// TestInterruptStopsTheStep sends SIGINT, then in a second build SIGTERM,
// while a RUN step runs: the build must stop, say it was interrupted and
// in which step, exit with 128+signal as shells do, and leave no process
// of the step, no mount, no scratch directory and no output.
func TestInterruptStopsTheStep(t *testing.T) {
	s := setup(t)
	for _, tc := range []struct {
		sig  syscall.Signal
		name string
		code int
	}{{syscall.SIGINT, "SIGINT", 130}, {syscall.SIGTERM, "SIGTERM", 143}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.TempDir()
			writeFiles(t, ctx, map[string]string{"Dockerfile": "FROM busybox\nRUN echo first\n\nRUN echo \"step\"-started; sleep 1000\n"})
			root := t.TempDir()
			dest := filepath.Join(t.TempDir(), "out.tar")
			b := startBuilder(t, s.builder, nil, nil, "build", "--progress", "plain", "--root", root,
				"--build-context", "busybox=oci-layout://"+s.busybox+":latest", "-o", "type=oci,dest="+dest, ctx)
			// The step's output (its command line shows the quotes):
			// its shell runs.
			b.waitLine(t, " step-started")
			procs := openProcesses(t, descendants(t, b.cmd.Process.Pid))
			if len(procs) == 0 {
				t.Fatalf("no process runs the step:\n%s", b.output())
			}
			if err := b.cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			err := b.wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != tc.code {
				t.Errorf("interrupted build ended with %v; want exit code %d", err, tc.code)
			}
			stderr := b.output()
			want := "error: interrupted by " + tc.name + " during " + filepath.Join(ctx, "Dockerfile") + ":4 RUN echo \"step\"-started; sleep 1000"
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr does not say %q:\n%s", want, stderr)
			}
			if strings.Contains(stderr, "context canceled") {
				t.Errorf("stderr speaks of a cancelled context instead of the signal:\n%s", stderr)
			}
			// The builder waits for its step's sandbox, whose end ends
			// every process in it: nothing may be left to wait for.
			if left := procs.running(t, 0); len(left) != 0 {
				t.Errorf("processes of the step survive the builder: %v", left)
			}
			if _, err := os.Stat(dest); err == nil {
				t.Error("interrupted build wrote its output")
			}
			if ents, err := os.ReadDir(filepath.Dir(dest)); err != nil || len(ents) != 0 {
				t.Errorf("output directory holds %v (%v)", names(ents), err)
			}
			if ents, err := os.ReadDir(filepath.Join(root, "tmp")); err != nil || len(ents) != 0 {
				t.Errorf("scratch left in the state directory: %v (%v)", names(ents), err)
			}
			checkNoMounts(t, root)
		})
	}
}

// checkNoMounts fails if a mount under dir exists in the test's mount
// namespace.
func checkNoMounts(t *testing.T, dir string) {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, dir) {
			t.Errorf("mount left behind: %s", line)
		}
	}
}
