package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

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

// TestInterruptStopsTheStep sends SIGINT while a RUN step runs: the build
// must stop at once, kill the step, leave no mount, no scratch directory and
// no output.
func TestInterruptStopsTheStep(t *testing.T) {
	s := setup(t)
	ctx := t.TempDir()
	marker := "4711" + strings.Repeat("3", 5)
	writeFiles(t, ctx, map[string]string{"Dockerfile": "FROM busybox\nRUN echo started; sleep " + marker + "\n"})
	root := t.TempDir()
	dest := filepath.Join(t.TempDir(), "out.tar")
	cmd := exec.Command(s.builder, "build", "--progress", "plain", "--root", root,
		"--build-context", "busybox=oci-layout://"+s.busybox+":latest", "-o", "type=oci,dest="+dest, ctx)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(findProcs(t, "sleep\x00"+marker)) == 0 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the step never started:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("builder took %s to stop after SIGINT", took)
	}
	if err == nil {
		t.Fatal("interrupted build exited 0")
	}
	if procs := findProcs(t, "sleep\x00"+marker); len(procs) != 0 {
		t.Errorf("processes of the step survive the interrupt: %v", procs)
	}
	if _, err := os.Stat(dest); err == nil {
		t.Error("interrupted build wrote its output")
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "tmp")); len(ents) != 0 {
		t.Errorf("scratch left in the state directory: %v", names(ents))
	}
	checkNoMounts(t, root)
}

// findProcs returns the pids whose command line contains needle.
func findProcs(t *testing.T, needle string) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(data), needle) {
			out = append(out, e.Name())
		}
	}
	return out
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
