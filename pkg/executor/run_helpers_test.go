package executor_test

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ocibuilder/builder/internal/testutil"
	"github.com/ocibuilder/builder/pkg/executor"
	"github.com/ocibuilder/builder/pkg/executor/sandbox"
	"github.com/ocibuilder/builder/pkg/layer"
)

// runEpoch is the SourceDateEpoch of the RUN tests' builds: later than
// testutil.TreeTime, so base entries keep their times and new ones are
// clamped to it.
func runEpoch() *time.Time {
	e := time.Date(2023, 11, 14, 22, 13, 20, 0, time.UTC)
	return &e
}

// snapshotters are the two ways RUN steps get a root filesystem; every
// layer test runs with both.
func snapshotters() []executor.Snapshotter {
	return []executor.Snapshotter{executor.SnapshotterOverlay, executor.SnapshotterCopy}
}

// requireSandbox skips RUN tests where no sandbox can be made: they need
// root. As root, a missing sandbox is a failure.
func requireSandbox(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("RUN steps need root")
	}
	if err := sandbox.Available(); err != nil {
		t.Fatalf("running as root but the sandbox is unavailable: %v", err)
	}
}

// busyboxBase writes the base image of the RUN tests: busybox with users
// and groups but without /proc, /dev, /sys, /etc/hosts, /etc/resolv.conf
// and /etc/hostname, so the sandbox must stub all of them, plus extra.
func busyboxBase(t testing.TB, extra ...testutil.Entry) string {
	t.Helper()
	return testutil.ImageLayout(t, append(testutil.BusyboxEntries(t, testutil.BusyboxOptions{Users: true}), extra...)...)
}

// runBuild builds s with the given snapshotter and with opt applied to the
// options, checks that nothing of the build stays mounted or in the
// scratch space, and returns the result (nil on error).
func runBuild(t testing.TB, s spec, snap executor.Snapshotter, opt func(*executor.Options)) (*result, error) {
	t.Helper()
	o := s.options(t)
	o.Snapshotter = snap
	if opt != nil {
		opt(&o)
	}
	r, err := tryBuild(t, s, o)
	checkNoMounts(t, o.Root)
	return r, err
}

// mustRunBuild is runBuild for a build that must succeed.
func mustRunBuild(t testing.TB, s spec, snap executor.Snapshotter, opt func(*executor.Options)) *result {
	t.Helper()
	r, err := runBuild(t, s, snap, opt)
	if err != nil {
		t.Fatalf("building with snapshotter %q:\n%s\nerror: %v", snap, s.dockerfile, err)
	}
	return r
}

// checkNoMounts fails when a mount below dir is left in this process's
// mount namespace.
func checkNoMounts(t testing.TB, dir string) {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatalf("reading mountinfo: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, dir) {
			t.Errorf("mount left behind: %s", line)
		}
	}
}

// layerEntry is one entry of a layer tar, reduced to what the tests assert.
type layerEntry struct {
	Name     string
	Type     byte
	Mode     int64 // permission and setuid/setgid/sticky bits
	UID, GID int
	Link     string
	// Body is the content of a regular file up to 4 KiB; larger files
	// have "sha256:<hex>" instead.
	Body    string
	Size    int64
	ModTime time.Time
}

// layerEntries reads the entries of layer i of r's image from the store.
func layerEntries(t testing.TB, r *result, i int) []layerEntry {
	t.Helper()
	rc, err := r.img.Store.Open(r.img.Layers[i].Digest)
	if err != nil {
		t.Fatalf("opening layer %d: %v", i, err)
	}
	defer rc.Close()
	dr, _, err := layer.Decompress(rc)
	if err != nil {
		t.Fatalf("decompressing layer %d: %v", i, err)
	}
	defer dr.Close()
	tr := tar.NewReader(dr)
	var out []layerEntry
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("reading layer %d: %v", i, err)
		}
		e := layerEntry{Name: h.Name, Type: h.Typeflag, Mode: h.Mode & 0o7777, UID: h.Uid, GID: h.Gid, Link: h.Linkname, Size: h.Size, ModTime: h.ModTime}
		if h.Typeflag == tar.TypeReg {
			if h.Size <= 4096 {
				b, err := io.ReadAll(tr)
				if err != nil {
					t.Fatalf("reading %s of layer %d: %v", h.Name, i, err)
				}
				e.Body = string(b)
			} else {
				sum := sha256.New()
				if _, err := io.Copy(sum, tr); err != nil {
					t.Fatalf("reading %s of layer %d: %v", h.Name, i, err)
				}
				e.Body = "sha256:" + hex.EncodeToString(sum.Sum(nil))
			}
		}
		out = append(out, e)
	}
}

// lastLayer returns the entries of the top layer of r's image.
func lastLayer(t testing.TB, r *result) []layerEntry {
	t.Helper()
	return layerEntries(t, r, len(r.img.Layers)-1)
}

// manifestDigest returns the digest of r's image manifest, which pins the
// config and every layer.
func manifestDigest(t testing.TB, r *result) string {
	t.Helper()
	desc, _, err := r.img.Manifest(context.Background())
	if err != nil {
		t.Fatalf("encoding manifest: %v", err)
	}
	return desc.Digest.String()
}

// Shorthands for expected layer entries, owned by root unless changed.
func tDir(name string, mode int64) layerEntry {
	return layerEntry{Name: name + "/", Type: tar.TypeDir, Mode: mode}
}

func tReg(name string, mode int64, body string) layerEntry {
	return layerEntry{Name: name, Type: tar.TypeReg, Mode: mode, Body: body, Size: int64(len(body))}
}

func tWhiteout(dir, base string) layerEntry {
	if dir != "" {
		dir += "/"
	}
	return layerEntry{Name: dir + ".wh." + base, Type: tar.TypeReg}
}

func tSymlink(name, target string) layerEntry {
	return layerEntry{Name: name, Type: tar.TypeSymlink, Mode: 0o777, Link: target}
}

func tHardlink(name string, mode int64, target string) layerEntry {
	return layerEntry{Name: name, Type: tar.TypeLink, Mode: mode, Link: target}
}

func (e layerEntry) owned(uid, gid int) layerEntry {
	e.UID, e.GID = uid, gid
	return e
}

// randomBytes returns n random bytes, which do not compress.
func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("reading random bytes: %v", err)
	}
	return b
}

// sameEntry compares the asserted fields of two layer entries: all but
// the mtime, and the size only of regular files.
func sameEntry(a, b layerEntry) bool {
	a.ModTime, b.ModTime = time.Time{}, time.Time{}
	if a.Type != tar.TypeReg || strings.Contains(a.Name, ".wh.") {
		a.Size, b.Size = 0, 0
	}
	return a == b
}

// names lists the entries' names.
func names(es []layerEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Name)
	}
	return out
}

// dumpEntries formats entries for a failure message, one a line.
func dumpEntries(es []layerEntry) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "  %-22s type=%c mode=%#o uid=%d gid=%d link=%q body=%q\n", e.Name, e.Type, e.Mode, e.UID, e.GID, e.Link, e.Body)
	}
	return b.String()
}
