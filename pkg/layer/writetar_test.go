package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// longDir is a relative directory path of over 3900 bytes, made of
// components below NAME_MAX.
func longDir() string {
	parts := make([]string, 20)
	for i := range parts {
		parts[i] = strings.Repeat(string(rune('a'+i)), 195)
	}
	return filepath.Join(parts...)
}

// buildTree creates a tree exercising every header rule. reverse creates
// entries in the opposite order, and atime varies the access times, so
// determinism tests can show neither leaks into the tar.
func buildTree(t testing.TB, root string, reverse bool, atime time.Time) {
	t.Helper()
	mtime := time.Date(2023, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	steps := []func(){
		func() { mustWrite(t, filepath.Join(root, "bin/su"), "su", os.ModeSetuid|0o755) },
		func() {
			mustWrite(t, filepath.Join(root, "bin/ping"), "ping", 0o755)
			if err := unix.Lsetxattr(filepath.Join(root, "bin/ping"), "security.capability", []byte(capabilityXattr()), 0); err != nil {
				t.Fatalf("setting capability: %v", err)
			}
		},
		func() {
			p := filepath.Join(root, "data/a")
			mustWrite(t, p, "data", 0o600)
			for k, v := range map[string]string{"user.x": "1", "trusted.y": "2", "trusted.overlay.opaque": "y", "user.overlay.origin": "z"} {
				if err := unix.Lsetxattr(p, k, []byte(v), 0); err != nil {
					t.Fatalf("setting %s: %v", k, err)
				}
			}
		},
		func() {
			mustWrite(t, filepath.Join(root, "data/hard1"), "shared", 0o644)
			if err := os.Link(filepath.Join(root, "data/hard1"), filepath.Join(root, "data/hard2")); err != nil {
				t.Fatal(err)
			}
		},
		func() {
			mustWrite(t, filepath.Join(root, "etc/owned"), "mine", 0o640)
			if err := os.Lchown(filepath.Join(root, "etc/owned"), 1234, 5678); err != nil {
				t.Fatal(err)
			}
		},
		func() {
			if err := os.MkdirAll(filepath.Join(root, "dev"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := unix.Mknod(filepath.Join(root, "dev/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
				t.Fatal(err)
			}
			if err := unix.Mkfifo(filepath.Join(root, "dev/fifo"), 0o600); err != nil {
				t.Fatal(err)
			}
			fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			if err := unix.Bind(fd, &unix.SockaddrUnix{Name: filepath.Join(root, "dev/sock")}); err != nil {
				t.Fatal(err)
			}
		},
		func() {
			if err := os.Symlink("/etc/owned", filepath.Join(root, "link")); err != nil {
				t.Fatal(err)
			}
		},
		func() { mustWrite(t, filepath.Join(root, longDir(), "leaf"), "deep", 0o644) },
	}
	if reverse {
		for i, j := 0, len(steps)-1; i < j; i, j = i+1, j-1 {
			steps[i], steps[j] = steps[j], steps[i]
		}
	}
	for _, s := range steps {
		s()
	}
	if err := os.Chmod(filepath.Join(root, "data"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(filepath.Join(root, "data"), 42, 43); err != nil {
		t.Fatal(err)
	}
	// Times last: creating children changes directory mtimes.
	err := filepath.WalkDir(root, func(p string, _ os.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		setTimes(t, p, atime, mtime)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestWriteTarEntries(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	buildTree(t, root, false, time.Now())
	data := writeTarBytes(t, root, walkChanges(root), TarOptions{})
	entries := readTar(t, data)
	byName := make(map[string]*tar.Header)
	for _, e := range entries {
		byName[e.hdr.Name] = e.hdr
	}
	wantTime := time.Date(2023, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, e := range entries {
		h := e.hdr
		if !h.ModTime.Equal(wantTime) {
			t.Errorf("%s: mtime %v, want %v", h.Name, h.ModTime, wantTime)
		}
		if !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
			t.Errorf("%s: atime/ctime recorded", h.Name)
		}
		if h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: user/group names %q/%q recorded", h.Name, h.Uname, h.Gname)
		}
		if strings.HasPrefix(h.Name, "/") || strings.HasPrefix(h.Name, "./") {
			t.Errorf("%s: name not relative", h.Name)
		}
		if (h.Typeflag == tar.TypeDir) != strings.HasSuffix(h.Name, "/") {
			t.Errorf("%s: trailing slash does not match type %c", h.Name, h.Typeflag)
		}
	}
	long := filepath.ToSlash(longDir()) + "/leaf"
	tests := []struct {
		name  string
		check func(h *tar.Header) bool
	}{
		{"bin/su", func(h *tar.Header) bool { return h.Typeflag == tar.TypeReg && h.Mode == 0o4755 && h.Size == 2 }},
		{"bin/ping", func(h *tar.Header) bool {
			return h.PAXRecords["SCHILY.xattr.security.capability"] == capabilityXattr()
		}},
		{"data/", func(h *tar.Header) bool { return h.Mode == 0o750 && h.Uid == 42 && h.Gid == 43 }},
		{"data/a", func(h *tar.Header) bool {
			return h.PAXRecords["SCHILY.xattr.user.x"] == "1" && h.PAXRecords["SCHILY.xattr.trusted.y"] == "2" &&
				len(h.Xattrs) == 2 // overlay xattrs dropped
		}},
		{"data/hard1", func(h *tar.Header) bool { return h.Typeflag == tar.TypeReg && h.Size == 6 }},
		{"data/hard2", func(h *tar.Header) bool {
			return h.Typeflag == tar.TypeLink && h.Linkname == "data/hard1" && h.Size == 0
		}},
		{"etc/owned", func(h *tar.Header) bool { return h.Uid == 1234 && h.Gid == 5678 && h.Mode == 0o640 }},
		{"dev/null", func(h *tar.Header) bool { return h.Typeflag == tar.TypeChar && h.Devmajor == 1 && h.Devminor == 3 }},
		{"dev/fifo", func(h *tar.Header) bool { return h.Typeflag == tar.TypeFifo }},
		{"link", func(h *tar.Header) bool { return h.Typeflag == tar.TypeSymlink && h.Linkname == "/etc/owned" }},
		{long, func(h *tar.Header) bool { return h.Size == 4 }},
	}
	for _, tc := range tests {
		t.Run(tc.name[:min(len(tc.name), 20)], func(t *testing.T) {
			h, ok := byName[tc.name]
			if !ok {
				t.Fatalf("entry missing")
			}
			if !tc.check(h) {
				t.Errorf("unexpected header: type %c mode %o uid %d gid %d size %d link %q pax %q",
					h.Typeflag, h.Mode, h.Uid, h.Gid, h.Size, h.Linkname, h.PAXRecords)
			}
		})
	}
	if _, ok := byName["dev/sock"]; ok {
		t.Error("socket was archived")
	}
	if len(long) < 3900 {
		t.Fatalf("long name only %d bytes", len(long))
	}
}

func TestWriteTarWhiteoutsAndParents(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "keep/sub"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(filepath.Join(root, "keep"), 7, 8); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(root, "keep/sub/new"), "n", 0o644)
	ch := listChanges(
		change{ChangeDelete, "gone"},
		change{ChangeDelete, "keep/old"},
		change{ChangeAdd, "keep/sub/new"},
	)
	data := writeTarBytes(t, root, ch, TarOptions{})
	entries := readTar(t, data)
	var names []string
	for _, e := range entries {
		names = append(names, e.hdr.Name)
	}
	want := []string{".wh.gone", "keep/", "keep/.wh.old", "keep/sub/", "keep/sub/new"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("entries %q, want %q", names, want)
	}
	keep := entries[1].hdr
	if keep.Uid != 7 || keep.Gid != 8 || keep.Mode != 0o750 {
		t.Errorf("parent keep/ written as uid %d gid %d mode %o, want 7 8 750", keep.Uid, keep.Gid, keep.Mode)
	}
	for _, i := range []int{0, 2} {
		h := entries[i].hdr
		if h.Typeflag != tar.TypeReg || h.Size != 0 || h.Mode != 0 || h.Uid != 0 || h.Gid != 0 || h.ModTime.Unix() != 0 {
			t.Errorf("whiteout %s: type %c size %d mode %o uid %d gid %d mtime %v", h.Name, h.Typeflag, h.Size, h.Mode, h.Uid, h.Gid, h.ModTime)
		}
	}
}

func TestWriteTarDeterministic(t *testing.T) {
	requireRoot(t)
	a, b := t.TempDir(), t.TempDir()
	buildTree(t, a, false, time.Unix(1, 0))
	buildTree(t, b, true, time.Unix(2_000_000_000, 5))
	ta := writeTarBytes(t, a, walkChanges(a), TarOptions{})
	tb := writeTarBytes(t, b, walkChanges(b), TarOptions{})
	if !bytes.Equal(ta, tb) {
		t.Fatalf("tars differ: %d vs %d bytes", len(ta), len(tb))
	}
	for _, c := range []Compression{Gzip, Zstd, Uncompressed} {
		t.Run(c.String(), func(t *testing.T) {
			da := encodeBytes(t, c, ta)
			db := encodeBytes(t, c, tb)
			if da.desc != db.desc || !bytes.Equal(da.blob, db.blob) {
				t.Errorf("descriptors differ: %+v vs %+v", da.desc, db.desc)
			}
		})
	}
}

func TestWriteTarSourceDateEpoch(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	buildTree(t, root, false, time.Now())
	epoch := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	data := writeTarBytes(t, root, walkChanges(root), TarOptions{SourceDateEpoch: &epoch})
	for _, e := range readTar(t, data) {
		if !e.hdr.ModTime.Equal(epoch) {
			t.Errorf("%s: mtime %v, want %v", e.hdr.Name, e.hdr.ModTime, epoch)
		}
	}
}

func TestWriteTarErrors(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	if err := os.Symlink("/etc", filepath.Join(root, "evil")); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(root, "f"), "x", 0o644)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		ch   Changes
	}{
		{"dot-dot path", context.Background(), listChanges(change{ChangeAdd, "../f"})},
		{"absolute path", context.Background(), listChanges(change{ChangeAdd, "/f"})},
		{"unclean path", context.Background(), listChanges(change{ChangeAdd, "a/./f"})},
		{"parent is a symlink", context.Background(), listChanges(change{ChangeAdd, "evil/passwd"})},
		{"missing entry", context.Background(), listChanges(change{ChangeAdd, "nope"})},
		{"unknown kind", context.Background(), listChanges(change{ChangeKind(9), "f"})},
		{"canceled", canceled, listChanges(change{ChangeAdd, "f"})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := WriteTar(tc.ctx, &buf, root, tc.ch, TarOptions{})
			if err == nil {
				t.Fatalf("WriteTar succeeded, wrote %q", tarNames(t, buf.Bytes()))
			}
			if strings.Contains(buf.String(), "root:") {
				t.Error("host file content leaked into the tar")
			}
		})
	}
	t.Run("canceled is context error", func(t *testing.T) {
		err := WriteTar(canceled, &bytes.Buffer{}, root, listChanges(change{ChangeAdd, "f"}), TarOptions{})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
	})
}

// closeRecorder fails the test if it is closed.
type closeRecorder struct {
	bytes.Buffer
	closed bool
}

func (c *closeRecorder) Close() error {
	c.closed = true
	return nil
}

func TestWriteTarLeavesWriterOpen(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	mustWrite(t, filepath.Join(root, "f"), "x", 0o644)
	w := &closeRecorder{}
	if err := WriteTar(context.Background(), w, root, walkChanges(root), TarOptions{}); err != nil {
		t.Fatal(err)
	}
	if w.closed {
		t.Error("WriteTar closed its writer")
	}
	if got := tarNames(t, w.Bytes()); len(got) != 1 || got[0] != "f" {
		t.Errorf("entries %q", got)
	}
}
