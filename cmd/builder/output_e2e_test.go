package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/ocibuilder/builder/internal/fsutil"
	"github.com/ocibuilder/builder/pkg/oci"
)

// outputProject is a build context whose image has one large layer, so
// that exporting it takes long enough to be killed midway.
type outputProject struct {
	s       shared
	ctx     string
	root    string
	bigHash string // sha256 of /big
}

func newOutputProject(t *testing.T, dockerfile string) outputProject {
	t.Helper()
	p := outputProject{s: setup(t), ctx: t.TempDir(), root: t.TempDir()}
	writeFiles(t, p.ctx, map[string]string{"Dockerfile": dockerfile})
	big := filepath.Join(p.ctx, "big")
	writeNoise(t, big, 96<<20)
	p.bigHash = fileSHA256(t, big)
	return p
}

// args returns the builder arguments of a build of p writing output o.
func (p outputProject) args(o string) []string {
	return []string{"build", "--root", p.root, "--progress", "plain",
		"--build-context", "busybox=oci-layout://" + p.s.busybox + ":latest", "-o", o, p.ctx}
}

func fileSHA256(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// killOnTempSibling runs the builder with args and kills it with SIGKILL
// as soon as a temporary sibling directory of dest appears, as inotify
// reports it. It fails the test if the builder ended by itself.
func killOnTempSibling(t *testing.T, bin, dest string, args ...string) {
	dir := filepath.Dir(dest)
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatalf("inotify: %v", err)
	}
	// A non-blocking descriptor goes through the runtime poller, so Close
	// ends a pending Read.
	events := os.NewFile(uintptr(fd), "inotify")
	defer events.Close()
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE|unix.IN_ONLYDIR|unix.IN_MOVED_TO); err != nil {
		t.Fatalf("watching %s: %v", dir, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), epochEnv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	seen := make(chan string, 1)
	go func() {
		defer close(seen)
		buf := make([]byte, 64<<10)
		for {
			n, err := events.Read(buf)
			if err != nil {
				return
			}
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
				name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)]), "\x00")
				off += unix.SizeofInotifyEvent + int(ev.Len)
				if ev.Mask&unix.IN_ISDIR != 0 && isTempSiblingOf(name, dest) {
					_ = cmd.Process.Kill()
					seen <- name
					return
				}
			}
		}
	}()
	waitErr := cmd.Wait()
	events.Close()
	name, killed := <-seen
	var ee *exec.ExitError
	if !killed || !errors.As(waitErr, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the builder was not killed while exporting (ended with %v, temporary sibling %q); the export must take longer:\n%s", waitErr, name, stderr.String())
	}
}

// isTempSiblingOf reports whether name is that of a hidden temporary
// sibling of dest, or of its lock file, whatever its random part.
func isTempSiblingOf(name, dest string) bool {
	return strings.HasPrefix(name, "."+filepath.Base(dest)+".tmp-")
}

// tempSiblings returns the names of dest's temporary siblings and their
// lock files.
func tempSiblings(t *testing.T, dest string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Dir(dest))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if isTempSiblingOf(e.Name(), dest) {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestKilledExportIsCleanedUp: a build killed with SIGKILL while it
// writes a directory output (OCI layout with tar=false, or type=local)
// leaves its locked temporary sibling next to the destination; the next
// build to the same destination removes it and writes a complete output.
func TestKilledExportIsCleanedUp(t *testing.T) {
	p := newOutputProject(t, "FROM busybox\nCOPY big /big\n")
	// Build once so the killed runs reach the export quickly.
	mustSucceed(t, runBuilder(t, p.s.builder, epochEnv, p.args("type=oci,dest="+filepath.Join(t.TempDir(), "warm.tar"))...))

	for _, tc := range []struct {
		name   string
		output func(dest string) string
		check  func(t *testing.T, dest string)
	}{
		{
			name:   "tar=false",
			output: func(dest string) string { return "type=oci,tar=false,dest=" + dest },
			check:  checkLayout,
		},
		{
			name:   "local",
			output: func(dest string) string { return "type=local,dest=" + dest },
			check: func(t *testing.T, dest string) {
				if got := fileSHA256(t, filepath.Join(dest, "big")); got != p.bigHash {
					t.Errorf("/big in the output hashes to %s, want %s", got, p.bigHash)
				}
				if fi, err := os.Stat(filepath.Join(dest, "bin", "busybox")); err != nil || !fi.Mode().IsRegular() {
					t.Errorf("/bin/busybox missing from the output (%v)", err)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			dest := filepath.Join(parent, "out")
			killOnTempSibling(t, p.s.builder, dest, p.args(tc.output(dest))...)
			left := tempSiblings(t, dest)
			if len(left) == 0 {
				t.Fatalf("after the kill %s holds no temporary sibling", parent)
			}
			for _, name := range left {
				if n := strings.TrimSuffix(name, ".lock"); !fsutil.IsTempSibling(n) || !slices.Contains(left, n) || !slices.Contains(left, n+".lock") {
					t.Errorf("after the kill %s holds %v, want one temporary directory and its lock file", parent, left)
					break
				}
			}
			if _, err := os.Lstat(dest); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a killed export created %s (%v)", dest, err)
			}
			// Someone else's files next to the destination stay.
			mine := filepath.Join(parent, "notes.tmp")
			if err := os.WriteFile(mine, []byte("keep"), 0o644); err != nil {
				t.Fatal(err)
			}

			mustSucceed(t, runBuilder(t, p.s.builder, epochEnv, p.args(tc.output(dest))...))
			if left := tempSiblings(t, dest); len(left) != 0 {
				t.Errorf("the next build left %v in %s", left, parent)
			}
			if _, err := os.Stat(mine); err != nil {
				t.Errorf("the next build removed an unrelated file: %v", err)
			}
			tc.check(t, dest)
		})
	}
}

// checkLayout fails unless dest is an OCI layout whose blobs all hash to
// their names and whose image validates.
func checkLayout(t *testing.T, dest string) {
	t.Helper()
	checkBlobs(t, dest)
	store, err := oci.OpenStore(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := oci.ReadLayout(context.Background(), dest, "", ocispec.Platform{}, store)
	if err == nil {
		err = oci.Validate(context.Background(), img)
	}
	if err != nil {
		t.Errorf("layout %s: %v", dest, err)
	}
}

// TestLayoutOutputSharesNothingWithState: editing and chmodding the blobs
// of a tar=false output changes nothing in the state directory, and the
// next tar=false export is intact.
func TestLayoutOutputSharesNothingWithState(t *testing.T) {
	p := newOutputProject(t, "FROM busybox\nCOPY big /big\nRUN echo done > /done\n")
	first := filepath.Join(t.TempDir(), "first")
	mustSucceed(t, runBuilder(t, p.s.builder, epochEnv, p.args("type=oci,tar=false,dest="+first)...))
	blobs, err := filepath.Glob(filepath.Join(first, "blobs", "sha256", "*"))
	if err != nil || len(blobs) == 0 {
		t.Fatalf("no blobs in %s (%v)", first, err)
	}
	for _, b := range blobs {
		if err := os.Chmod(b, 0o666); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(b, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		// Same size: only a hash can tell.
		if _, err := f.WriteAt([]byte("EDITED"), 0); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	checkBlobs(t, p.root)
	err = filepath.WalkDir(filepath.Join(p.root, "blobs"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o222 != 0 {
			t.Errorf("THE STATE DIRECTORY WAS CHANGED THROUGH AN OUTPUT: %s is %v", path, fi.Mode())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	second := filepath.Join(t.TempDir(), "second")
	mustSucceed(t, runBuilder(t, p.s.builder, epochEnv, p.args("type=oci,tar=false,dest="+second)...))
	checkLayout(t, second)
}

// TestLocalOutputLeavesOutDevices: device nodes made by RUN reach the
// image but never the host: the local output leaves them out with one
// warning line each, and keeps the rest (a FIFO included).
func TestLocalOutputLeavesOutDevices(t *testing.T) {
	s := setup(t)
	ctx := t.TempDir()
	writeFiles(t, ctx, map[string]string{"Dockerfile": "FROM busybox\n" +
		"RUN mknod /null2 c 1 3 && mknod /loop200 b 7 200 && mkfifo /fifo && ln /null2 /null3 && echo ok > /ok\n"})
	dest := filepath.Join(t.TempDir(), "out")
	r := runBuilder(t, s.builder, epochEnv, "build", "--root", t.TempDir(), "--progress", "plain",
		"--build-context", "busybox=oci-layout://"+s.busybox+":latest", "-o", "type=local,dest="+dest, ctx)
	mustSucceed(t, r)
	for _, p := range []string{"/null2", "/null3", "/loop200"} {
		n := 0
		for _, line := range strings.Split(r.stderr, "\n") {
			if strings.Contains(line, "WARNING") && strings.Contains(line, `"`+p+`"`) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d warning lines name %s, want 1:\n%s", n, p, r.stderr)
		}
	}
	err := filepath.WalkDir(dest, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeDevice != 0 {
			t.Errorf("DEVICE NODE CREATED ON THE HOST: %s", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(filepath.Join(dest, "fifo")); err != nil || fi.Mode()&fs.ModeNamedPipe == 0 {
		t.Errorf("/fifo missing from the output (%v)", err)
	}
	if data, err := os.ReadFile(filepath.Join(dest, "ok")); err != nil || string(data) != "ok\n" {
		t.Errorf("/ok = %q (%v)", data, err)
	}
}
