package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// epochEnv makes builds reproducible, so two roots give one digest.
var epochEnv = []string{"SOURCE_DATE_EPOCH=1700000000"}

// TestKilledBuildsLeaveNothingBehind: a build killed with SIGKILL at
// several moments (in RUN steps, during a large COPY, while writing the
// output) leaves no mount, no process of its steps and no output or
// temporary sibling at -o; the next build on the same --root removes the
// dead builds' scratch space, succeeds, and gives the digest a fresh root
// gives; every stored blob still hashes to its name.
func TestKilledBuildsLeaveNothingBehind(t *testing.T) {
	s := setup(t)
	marker := fmt.Sprintf("crash-%d", os.Getpid())
	ctx := t.TempDir()
	writeFiles(t, ctx, map[string]string{"Dockerfile": "FROM busybox\n" +
		"RUN echo " + marker + " && sleep 0.5 && echo a > /a\n" +
		"COPY big /big\n" +
		"RUN echo " + marker + " && sleep 0.5 && wc -c /big > /size\n" +
		"COPY big /big2\n" +
		"RUN echo " + marker + " && sleep 1\n"})
	writeNoise(t, filepath.Join(ctx, "big"), 48<<20)
	root := t.TempDir()
	bb := "busybox=oci-layout://" + s.busybox + ":latest"

	for _, delay := range []time.Duration{50 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond, time.Second, 1500 * time.Millisecond} {
		t.Run(delay.String(), func(t *testing.T) {
			destDir := t.TempDir()
			cmd := exec.Command(s.builder, "build", "--root", root, "--progress", "plain", "--build-context", bb,
				"-o", "type=oci,dest="+filepath.Join(destDir, "img.tar"), ctx)
			cmd.Env = append(os.Environ(), epochEnv...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(delay)
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("the build was not killed (ended with %v) after %v; it must run longer:\n%s", err, delay, stderr.String())
			}
			deadline := time.Now().Add(5 * time.Second)
			for len(findProcs(t, marker)) != 0 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if procs := findProcs(t, marker); len(procs) != 0 {
				t.Errorf("processes of a step survive the builder: %v", procs)
			}
			checkNoMounts(t, root)
			if ents, err := os.ReadDir(destDir); err != nil || len(ents) != 0 {
				t.Errorf("output directory after the kill holds %v (%v)", names(ents), err)
			}
		})
	}

	dest := filepath.Join(t.TempDir(), "img.tar")
	r := runBuilder(t, s.builder, epochEnv, "build", "-q", "--root", root, "--build-context", bb, "-o", "type=oci,dest="+dest, ctx)
	mustSucceed(t, r)
	if ents, err := os.ReadDir(filepath.Join(root, "tmp")); err != nil || len(ents) != 0 {
		t.Errorf("scratch space of the killed builds survives the next build: %v (%v)", names(ents), err)
	}
	checkBlobs(t, root)
	fresh := runBuilder(t, s.builder, epochEnv, "build", "-q", "--root", t.TempDir(), "--build-context", bb, "-o", "type=oci,dest="+filepath.Join(t.TempDir(), "img.tar"), ctx)
	mustSucceed(t, fresh)
	if got, want := strings.TrimSpace(r.stdout), strings.TrimSpace(fresh.stdout); got != want || want == "" {
		t.Errorf("digest after the killed builds = %q; a fresh root gives %q", got, want)
	}
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
