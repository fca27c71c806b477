package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ocibuilder/builder/internal/tartest"
)

// fuzzOutside is the absolute path hostile seeds aim at. FuzzApply
// creates it next to the root, so its absolute form is inside a temp dir.
const fuzzOutside = "/fuzz-outside"

// maxFuzzExtract bounds how much a fuzz input may expand to, so the
// fuzzer does not fill the disk with decompression or sparse-file bombs.
const maxFuzzExtract = 4 << 20

func FuzzApply(f *testing.F) {
	requireRoot(f)
	for _, tc := range breakoutCases() {
		data := tartest.Build(f, tc.entries(fuzzOutside)...)
		f.Add(data)
		f.Add(encodeBytes(f, Gzip, data).blob)
	}
	f.Add(ociLower(f))
	f.Add(ociUpper(f))
	f.Add(encodeBytes(f, Zstd, ociUpper(f)).blob)
	f.Add(tartest.Build(f, tartest.Dir("a"), tartest.Link("a/h", "a"), tartest.Opaque(""), tartest.File("x", "y")))
	for _, e := range []tartest.Entry{
		tartest.File("fuzz-outside-real/canary", "pwned"),
		tartest.Link("h", "fuzz-outside-real/canary"),
		tartest.Whiteout("fuzz-outside-real/canary"),
		tartest.Opaque("fuzz-outside-real"),
		tartest.Symlink("fuzz-outside-real", "/"),
	} {
		f.Add(tartest.Build(f, e))
	}
	f.Add([]byte{})
	f.Add([]byte("not a tar at all"))

	f.Fuzz(func(t *testing.T, data []byte) {
		if !boundedArchive(data) {
			t.Skip("expands too much")
		}
		for _, mode := range []WhiteoutFormat{WhiteoutOCI, WhiteoutOverlay} {
			parent := t.TempDir()
			root := filepath.Join(parent, "root")
			outside := filepath.Join(parent, "outside")
			mustWrite(t, filepath.Join(outside, "canary"), "canary", 0o644)
			if err := os.Mkdir(root, 0o755); err != nil {
				t.Fatal(err)
			}
			// Point the seeds' absolute target at the real outside dir.
			if err := os.Symlink(outside, filepath.Join(root, "fuzz-outside-real")); err != nil {
				t.Fatal(err)
			}
			// No deadline: boundedArchive bounds the work, and one
			// that fires on a slow machine would only check less.
			_, err := Apply(context.Background(), root, bytes.NewReader(data), ApplyOptions{Whiteouts: mode})
			var unsafe *UnsafePathError
			if errors.As(err, &unsafe) && unsafe.Reason == "" {
				t.Errorf("UnsafePathError without reason: %v", err)
			}
			entries, rerr := os.ReadDir(parent)
			if rerr != nil {
				t.Fatal(rerr)
			}
			for _, e := range entries {
				if e.Name() != "root" && e.Name() != "outside" {
					t.Errorf("Apply created %s next to root", e.Name())
				}
			}
			got, rerr := os.ReadDir(outside)
			if rerr != nil || len(got) != 1 || got[0].Name() != "canary" || !got[0].Type().IsRegular() {
				t.Fatalf("outside dir changed: %v %v", got, rerr)
			}
			if b, rerr := os.ReadFile(filepath.Join(outside, "canary")); rerr != nil || string(b) != "canary" {
				t.Fatalf("canary changed: %q %v", b, rerr)
			}
			if _, rerr := os.Lstat(fuzzOutside); rerr == nil {
				t.Fatalf("Apply created %s on the host", fuzzOutside)
			}
		}
	})
}

// boundedArchive reports whether data decompresses to at most
// maxFuzzExtract bytes and declares no more than that in file sizes.
func boundedArchive(data []byte) bool {
	rc, _, err := Decompress(bytes.NewReader(data))
	if err != nil {
		return true // Apply fails early too
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, maxFuzzExtract+1))
	if len(raw) > maxFuzzExtract {
		return false
	}
	_ = err // a corrupt stream is for Apply to report
	tr := tar.NewReader(bytes.NewReader(raw))
	var total int64
	for {
		h, err := tr.Next()
		if err != nil {
			return true
		}
		total += max(h.Size, 0)
		if total > maxFuzzExtract {
			return false
		}
	}
}

// buildFuzzTree interprets ops as a small program creating entries below
// root: three bytes per step (operation, name, argument).
func buildFuzzTree(t *testing.T, root string, ops []byte) {
	t.Helper()
	names := []string{"a", "b", "c", "d.d", ".wh", "long-" + strings.Repeat("n", 120)}
	nameOf := func(b byte) string {
		depth := int(b%3) + 1
		parts := make([]string, depth)
		for i := range parts {
			parts[i] = names[int(b/3+byte(i)*7)%len(names)]
		}
		return path.Join(parts...)
	}
	var files []string
	mtime := time.Unix(1_700_000_000, 0)
	for i := 0; i+2 < len(ops) && i < 3*64; i += 3 {
		op, name, arg := ops[i], nameOf(ops[i+1]), ops[i+2]
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			continue // a parent is a file
		}
		if _, err := os.Lstat(p); err == nil {
			continue
		}
		var err error
		switch op % 5 {
		case 0:
			err = os.WriteFile(p, bytes.Repeat([]byte{arg}, int(arg)), 0o644)
			files = append(files, p)
		case 1:
			err = os.Mkdir(p, 0o700|fs.FileMode(arg&0o77))
		case 2:
			err = os.Symlink(nameOf(arg), p)
		case 3:
			if len(files) > 0 {
				err = os.Link(files[int(arg)%len(files)], p)
			}
		case 4:
			if err = os.WriteFile(p, nil, 0o600); err == nil {
				err = os.Chmod(p, fs.FileMode(arg)&0o777|os.ModeSetgid)
			}
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("creating %s: %v", name, err)
		}
	}
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err == nil && p != root {
			setTimes(t, p, mtime, mtime)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func FuzzRoundTrip(f *testing.F) {
	requireRoot(f)
	f.Add([]byte{0, 1, 5, 1, 2, 0, 2, 3, 1, 3, 4, 0, 4, 5, 7})
	f.Add([]byte{1, 0, 0, 0, 9, 200, 3, 12, 0, 3, 15, 0, 2, 18, 0})
	f.Add(bytes.Repeat([]byte{0, 7, 3, 1, 8, 4, 2, 11, 5, 3, 17, 1}, 5))
	f.Fuzz(func(t *testing.T, ops []byte) {
		src := t.TempDir()
		buildFuzzTree(t, src, ops)
		data := writeTarBytes(t, src, walkChanges(src), TarOptions{})

		// Every tree entry appears once, in walk order, as what it is.
		var want []string
		inodes := make(map[uint64]string)
		err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil || p == src {
				return err
			}
			rel, _ := filepath.Rel(src, p)
			fi, err := os.Lstat(p)
			if err != nil {
				return err
			}
			st := fi.Sys().(*syscall.Stat_t)
			desc := fmt.Sprintf("%s %v", filepath.ToSlash(rel), fi.Mode())
			switch {
			case fi.Mode()&fs.ModeSymlink != 0:
				l, _ := os.Readlink(p)
				desc += " -> " + l
			case fi.Mode().IsRegular():
				if first, ok := inodes[st.Ino]; ok {
					desc += " link " + first
				} else {
					inodes[st.Ino] = filepath.ToSlash(rel)
					desc += fmt.Sprintf(" size %d", fi.Size())
				}
			}
			want = append(want, desc)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range readTar(t, data) {
			h := e.hdr
			desc := fmt.Sprintf("%s %v", strings.TrimSuffix(h.Name, "/"), h.FileInfo().Mode())
			switch h.Typeflag {
			case tar.TypeSymlink:
				desc += " -> " + h.Linkname
			case tar.TypeLink:
				// FileInfo reports a hard link as a plain file.
				desc += " link " + h.Linkname
			case tar.TypeReg:
				desc += fmt.Sprintf(" size %d", h.Size)
			}
			got = append(got, desc)
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("tar entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}

		// Applying the tar rebuilds the same tree.
		dst := t.TempDir()
		if _, err := applyBytes(t, dst, data, ApplyOptions{}); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		diffTrees(t, snapshotTree(t, src), snapshotTree(t, dst))
	})
}
