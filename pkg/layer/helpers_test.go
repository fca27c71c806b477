package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// change is one element of a test change stream.
type change struct {
	kind ChangeKind
	path string
}

// listChanges reports cs in the given order.
func listChanges(cs ...change) Changes {
	return func(ctx context.Context, fn ChangeFunc) error {
		for _, c := range cs {
			if err := fn(c.kind, c.path, nil); err != nil {
				return err
			}
		}
		return nil
	}
}

// walkChanges reports every entry below root as added, in the lexical
// order WalkDir guarantees.
func walkChanges(root string) Changes {
	return func(ctx context.Context, fn ChangeFunc) error {
		return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(root, p)
			if err != nil || rel == "." {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			return fn(ChangeAdd, filepath.ToSlash(rel), fi)
		})
	}
}

// tarEntry is a header read back from an archive with its content.
type tarEntry struct {
	hdr  *tar.Header
	body string
}

// readTar parses data with archive/tar.
func readTar(t testing.TB, data []byte) []tarEntry {
	t.Helper()
	var out []tarEntry
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("reading tar: %v", err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("reading tar body %s: %v", h.Name, err)
		}
		out = append(out, tarEntry{hdr: h, body: string(b)})
	}
}

// tarNames lists the entry names of data in order.
func tarNames(t testing.TB, data []byte) []string {
	t.Helper()
	var names []string
	for _, e := range readTar(t, data) {
		names = append(names, e.hdr.Name)
	}
	return names
}

// writeTarBytes runs WriteTar into memory.
func writeTarBytes(t testing.TB, root string, ch Changes, o TarOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteTar(context.Background(), &buf, root, ch, o); err != nil {
		t.Fatalf("WriteTar: %v", err)
	}
	return buf.Bytes()
}

// fileState is what tree comparisons look at for one entry.
type fileState struct {
	Type    fs.FileMode
	Mode    fs.FileMode
	UID     uint32
	GID     uint32
	Content string // sha256 of regular file content
	Link    string
	Rdev    uint64
	Mtime   time.Time
	Xattrs  string
	// LinkGroup names the first path (in lexical order) sharing this
	// inode, so hard links compare without inode numbers.
	LinkGroup string
}

// snapshotTree records the state of every entry below root.
func snapshotTree(t testing.TB, root string) map[string]fileState {
	t.Helper()
	out := make(map[string]fileState)
	inodes := make(map[uint64]string)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		s := fileState{
			Type:  fi.Mode().Type(),
			Mode:  fi.Mode() &^ fs.ModeType,
			UID:   st.Uid,
			GID:   st.Gid,
			Rdev:  st.Rdev,
			Mtime: fi.ModTime(),
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			s.Mode = 0 // symlink permissions are meaningless on Linux
			if s.Link, err = os.Readlink(p); err != nil {
				return err
			}
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			s.Content = hex.EncodeToString(sum[:])
			if first, ok := inodes[st.Ino]; ok {
				s.LinkGroup = first
			} else {
				inodes[st.Ino] = rel
				s.LinkGroup = rel
			}
		}
		x, err := readXattrs(p)
		if err != nil {
			return err
		}
		var kv []string
		for k, v := range x {
			kv = append(kv, k+"="+hex.EncodeToString([]byte(v)))
		}
		sort.Strings(kv)
		s.Xattrs = strings.Join(kv, ",")
		out[filepath.ToSlash(rel)] = s
		return nil
	})
	if err != nil {
		t.Fatalf("snapshotting %s: %v", root, err)
	}
	return out
}

// diffTrees reports the differences between two snapshots.
func diffTrees(t testing.TB, want, got map[string]fileState) {
	t.Helper()
	for p, w := range want {
		g, ok := got[p]
		if !ok {
			t.Errorf("%s: missing", p)
			continue
		}
		if !w.Mtime.Equal(g.Mtime) {
			t.Errorf("%s: mtime %v, want %v", p, g.Mtime, w.Mtime)
		}
		w.Mtime, g.Mtime = time.Time{}, time.Time{}
		if w != g {
			t.Errorf("%s:\n got %+v\nwant %+v", p, g, w)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: unexpected", p)
		}
	}
}

// mustWrite creates a file with content and mode.
func mustWrite(t testing.TB, p, content string, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// setTimes sets atime and mtime of p without following symlinks.
func setTimes(t testing.TB, p string, atime, mtime time.Time) {
	t.Helper()
	ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.Fatal(err)
	}
}

// capabilityXattr is a valid VFS_CAP_REVISION_2 security.capability value
// granting CAP_NET_BIND_SERVICE (bit 10) as permitted and effective.
func capabilityXattr() string {
	b := make([]byte, 20)
	// magic_etc: revision 2 | effective flag.
	b[0], b[3] = 0x01, 0x02
	b[5] = 0x04 // permitted low word: 1<<10
	return string(b)
}

// requireRoot skips tests that create devices, set trusted xattrs or
// restore foreign owners, all of which need root.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}
