package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// epochEnv makes builds reproducible, so two roots give one digest.
var epochEnv = []string{"SOURCE_DATE_EPOCH=1700000000"}

// TestKilledBuildsLeaveNothingBehind: a build killed with SIGKILL at
// several points (in a RUN step, when its first scratch directory appears,
// when a large COPY starts, while that COPY's layer is compressed, while
// writing the output) leaves no mount, no process of its steps and no
// output or temporary sibling at -o; the next build on the same --root
// removes the dead builds' scratch space, reuses what they cached,
// succeeds, and gives the digest a fresh root gives; every stored blob
// still hashes to its name.
//
// Every kill waits for its point to be reached (a progress line, a file
// created) and happens while the build cannot finish: the last RUN step
// sleeps while the build argument HOLD is set, and the output goes to a
// pipe the test does not drain.
func TestKilledBuildsLeaveNothingBehind(t *testing.T) {
	s := setup(t)
	ctx := t.TempDir()
	writeFiles(t, ctx, map[string]string{"Dockerfile": "FROM busybox\n" +
		"RUN echo \"step\"-a && echo a > /a\n" +
		"COPY big /big\n" +
		"RUN echo \"step\"-b && wc -c /big > /size\n" +
		"COPY big /big2\n" +
		"ARG HOLD\n" +
		"RUN echo \"step\"-c && if [ -n \"$HOLD\" ]; then exec sleep \"$HOLD\"; fi\n"})
	writeNoise(t, filepath.Join(ctx, "big"), 48<<20)
	root := t.TempDir()
	bb := "busybox=oci-layout://" + s.busybox + ":latest"
	hold := []string{"--no-cache", "--build-arg", "HOLD=1000"}

	for _, point := range []struct {
		name  string
		args  []string
		reach func(t *testing.T, b *startedBuild)
	}{
		{"run step", hold, func(t *testing.T, b *startedBuild) {
			b.waitLine(t, " step-c") // the step's output, not its quoted command line
		}},
		{"scratch directory", hold, nil}, // set below: needs --root/tmp to exist
		{"copy starts", hold, func(t *testing.T, b *startedBuild) {
			b.waitLine(t, "COPY big /big")
		}},
		{"layer compression", hold, func(t *testing.T, b *startedBuild) {
			id, _, _ := strings.Cut(b.waitLine(t, "COPY big /big"), " ")
			b.waitLine(t, id+" DONE ")
		}},
		{"output", []string{"--no-cache"}, nil}, // writes to a pipe, below
	} {
		t.Run(point.name, func(t *testing.T) {
			destDir := t.TempDir()
			dest := filepath.Join(destDir, "img.tar")
			var out, outW *os.File
			reach := point.reach
			switch point.name {
			case "scratch directory":
				created := watchCreate(t, filepath.Join(root, "tmp"))
				reach = func(t *testing.T, b *startedBuild) {
					select {
					case <-created:
					case <-b.eof:
						t.Fatalf("the build ended before making scratch space:\n%s", b.output())
					}
				}
			case "output":
				var err error
				if out, outW, err = os.Pipe(); err != nil {
					t.Fatal(err)
				}
				defer out.Close()
				dest = "-"
				reach = func(t *testing.T, b *startedBuild) {
					outW.Close()
					if _, err := out.Read(make([]byte, 1)); err != nil {
						t.Fatalf("no output written (%v):\n%s", err, b.output())
					}
				}
			}
			args := append([]string{"build", "--root", root, "--progress", "plain", "--build-context", bb,
				"-o", "type=oci,dest=" + dest}, point.args...)
			b := startBuilder(t, s.builder, epochEnv, outW, append(args, ctx)...)
			reach(t, b)
			procs := openProcesses(t, descendants(t, b.cmd.Process.Pid))
			if err := b.cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			err := b.wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("the build was not killed (ended with %v):\n%s", err, b.output())
			}
			// The steps' processes die with their sandbox, which the
			// kernel kills when the builder dies (Pdeathsig).
			if left := procs.running(t, -1); len(left) != 0 {
				t.Errorf("processes of a step survive the builder: %v", left)
			}
			checkNoMounts(t, root)
			if ents, err := os.ReadDir(destDir); err != nil || len(ents) != 0 {
				t.Errorf("output directory after the kill holds %v (%v)", names(ents), err)
			}
		})
	}

	dest := filepath.Join(t.TempDir(), "img.tar")
	r := runBuilder(t, s.builder, epochEnv, "build", "--progress", "plain", "--root", root, "--build-context", bb, "-o", "type=oci,dest="+dest, ctx)
	mustSucceed(t, r)
	if !strings.Contains(r.stderr, "CACHED") {
		t.Errorf("the build after the kills reused nothing the killed builds cached:\n%s", r.stderr)
	}
	if ents, err := os.ReadDir(filepath.Join(root, "tmp")); err != nil || len(ents) != 0 {
		t.Errorf("scratch space of the killed builds survives the next build: %v (%v)", names(ents), err)
	}
	checkBlobs(t, root)
	fresh := runBuilder(t, s.builder, epochEnv, "build", "--progress", "plain", "--root", t.TempDir(), "--build-context", bb, "-o", "type=oci,dest="+filepath.Join(t.TempDir(), "img.tar"), ctx)
	mustSucceed(t, fresh)
	if got, want := manifestDigest(t, r.stderr), manifestDigest(t, fresh.stderr); got != want {
		t.Errorf("digest after the killed builds = %q; a fresh root gives %q", got, want)
	}
}

// manifestDigest returns the digest a build's plain progress output ends
// with.
func manifestDigest(t *testing.T, stderr string) string {
	t.Helper()
	_, after, ok := strings.Cut(stderr, "image manifest ")
	if !ok {
		t.Fatalf("no image manifest digest in the output:\n%s", stderr)
	}
	return strings.TrimSpace(after)
}

// TestDiskFullFailsCleanly: with --root on a 20 MiB filesystem, a COPY of
// a 50 MiB file fails with an error saying the disk is full, and leaves no
// corrupt blob and no scratch space behind.
func TestDiskFullFailsCleanly(t *testing.T) {
	s := setup(t)
	root := filepath.Join(t.TempDir(), "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", root, "tmpfs", 0, "size=20m"); err != nil {
		t.Skipf("mounting a small tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(root, unix.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", root, err)
		}
	})
	ctx := t.TempDir()
	writeFiles(t, ctx, map[string]string{"Dockerfile": "FROM busybox\nCOPY big /big\n"})
	writeNoise(t, filepath.Join(ctx, "big"), 50<<20)
	dest := filepath.Join(t.TempDir(), "img.tar")
	r := runBuilder(t, s.builder, nil, "build", "--root", root, "--progress", "plain",
		"--build-context", "busybox=oci-layout://"+s.busybox+":latest", "-o", "type=oci,dest="+dest, ctx)
	if r.code == 0 {
		t.Fatal("a build larger than its state directory succeeded")
	}
	if !strings.Contains(r.stderr, "no space left on device") {
		t.Errorf("error does not say the disk is full:\n%s", r.stderr)
	}
	if _, err := os.Stat(dest); err == nil {
		t.Error("the failed build wrote its output")
	}
	checkBlobs(t, root)
	if ents, err := os.ReadDir(filepath.Join(root, "tmp")); err != nil || len(ents) != 0 {
		t.Errorf("scratch space left behind: %v (%v)", names(ents), err)
	}
}

// writeNoise writes size incompressible, deterministic bytes to p.
func writeNoise(t *testing.T, p string, size int) {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 1<<20)
	block := sha256.Sum256([]byte(p))
	for written := 0; written < size; {
		buf = buf[:0]
		for len(buf) < cap(buf) {
			block = sha256.Sum256(block[:])
			buf = append(buf, block[:]...)
		}
		n := min(len(buf), size-written)
		if _, err := f.Write(buf[:n]); err != nil {
			t.Fatal(err)
		}
		written += n
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// checkBlobs fails for every blob under root whose content does not hash
// to its name.
func checkBlobs(t *testing.T, root string) {
	t.Helper()
	blobs, err := filepath.Glob(filepath.Join(root, "blobs", "sha256", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blobs {
		f, err := os.Open(b)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != filepath.Base(b) {
			t.Errorf("blob %s holds content hashing to %s", filepath.Base(b), got)
		}
	}
}
