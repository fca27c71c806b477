package layer

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/ocibuilder/builder/internal/fsutil"
	"golang.org/x/sys/unix"
)

// whiteoutPrefix marks a deleted path in an OCI layer.
const whiteoutPrefix = ".wh."

// whiteoutOpaque marks a directory whose lower content is hidden.
const whiteoutOpaque = whiteoutPrefix + whiteoutPrefix + ".opq"

// WriteTar renders the change stream ch as a tar written to w, reading
// added and modified entries from the tree at root. w is not closed.
//
// ch must report paths in lexical order with every directory before its
// children, as Changes documents: entries are written in the order they
// arrive, so that order is what makes the output deterministic. A
// directory that did not change but holds a changed entry is written
// before its first changed descendant, with its metadata read from root,
// so extraction recreates it with the right owner and mode. Deletions
// become OCI whiteouts. Sockets are skipped: they cannot live in an image.
//
// Entries are read through directory descriptors, each reached from root
// by one openat2 that keeps it below root, so the only limit on a name is
// the kernel's own on a path inside the tree, however deep root lies.
func WriteTar(ctx context.Context, w io.Writer, root string, ch Changes, o TarOptions) error {
	r, err := fsutil.OpenDir(root)
	if err != nil {
		return fmt.Errorf("opening layer root: %w", err)
	}
	tw := &tarWriter{
		tw:     tar.NewWriter(w),
		root:   r,
		opts:   o,
		dirs:   make(map[string]bool),
		inodes: make(map[inode]string),
	}
	defer tw.close()
	err = ch(ctx, func(k ChangeKind, p string, _ fs.FileInfo) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return tw.change(k, p)
	})
	if err != nil {
		return fmt.Errorf("writing layer tar: %w", err)
	}
	// Flush writes the end-of-archive marker without closing w.
	if err := tw.tw.Close(); err != nil {
		return fmt.Errorf("finishing layer tar: %w", err)
	}
	return nil
}

// inode identifies a file across its hard links.
type inode struct {
	dev uint64
	ino uint64
}

// tarWriter carries the state of one WriteTar call.
type tarWriter struct {
	tw   *tar.Writer
	root *fsutil.Dir
	opts TarOptions
	// open holds directories on the path to the last entry, outermost
	// first: changes arrive depth first, so an entry's directory is
	// usually open already.
	open []openDir
	// dirs holds directories already written.
	dirs map[string]bool
	// inodes maps a multiply-linked file to the first name written for it.
	inodes map[inode]string
	// buf carries file content: large, so a big file costs few reads.
	buf []byte
}

// openDir is a directory below the root and its slash path.
type openDir struct {
	rel string
	d   *fsutil.Dir
}

// close releases the directories still open.
func (t *tarWriter) close() {
	for _, o := range t.open {
		o.d.Close()
	}
	t.open = nil
	t.root.Close()
}

// at returns the directory holding p, opened below the root, and p's name
// in it. Directories no longer on the way to p are closed; a directory one
// level below an open one is opened from it by name, any other with one
// openat2 from the deepest open ancestor.
func (t *tarWriter) at(p string) (*fsutil.Dir, string, error) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return t.root, p, nil
	}
	dir, base := p[:i], p[i+1:]
	for len(t.open) > 0 {
		top := t.open[len(t.open)-1]
		if top.rel == dir {
			return top.d, base, nil
		}
		if strings.HasPrefix(dir, top.rel) && dir[len(top.rel)] == '/' {
			break
		}
		top.d.Close()
		t.open = t.open[:len(t.open)-1]
	}
	from, rest := t.root, dir
	if len(t.open) > 0 {
		top := t.open[len(t.open)-1]
		from, rest = top.d, dir[len(top.rel)+1:]
	}
	var d *fsutil.Dir
	var err error
	if strings.IndexByte(rest, '/') < 0 {
		d, err = from.OpenDir(rest)
	} else {
		d, err = from.OpenDirBeneath(rest)
	}
	if err != nil {
		return nil, "", fmt.Errorf("opening directory %s: %w", dir, err)
	}
	t.open = append(t.open, openDir{rel: dir, d: d})
	return d, base, nil
}

// lstat describes p without following a final symlink.
func (t *tarWriter) lstat(p string) (fs.FileInfo, error) {
	d, base, err := t.at(p)
	if err != nil {
		return nil, err
	}
	return d.Lstat(base)
}

// copyBufferSize is the read size for file content.
const copyBufferSize = 1 << 20

// change writes one change and any ancestor directories not written yet.
func (t *tarWriter) change(k ChangeKind, p string) error {
	if p == "" || p == "." {
		return nil // the root itself has no entry in a layer
	}
	if path.Clean(p) != p || path.IsAbs(p) || p == ".." || strings.HasPrefix(p, "../") {
		return fmt.Errorf("writing change %q: path is not clean and relative", p)
	}
	switch k {
	case ChangeDelete:
		if err := t.parents(p); err != nil {
			return err
		}
		dir, base := path.Split(p)
		h, err := tarHeader(meta{name: dir + whiteoutPrefix + base, mtime: time.Unix(0, 0)}, t.opts)
		if err != nil {
			return err
		}
		if err := t.tw.WriteHeader(h); err != nil {
			return fmt.Errorf("writing whiteout for %s: %w", p, err)
		}
		return nil
	case ChangeAdd, ChangeModify:
		return t.entry(p)
	}
	return fmt.Errorf("writing change %s: unknown change kind %d", p, k)
}

// parents writes every ancestor directory of p not written yet, top down.
func (t *tarWriter) parents(p string) error {
	for i := 0; i < len(p); i++ {
		if p[i] != '/' {
			continue
		}
		dir := p[:i]
		if t.dirs[dir] {
			continue
		}
		fi, err := t.lstat(dir)
		if err != nil {
			return fmt.Errorf("reading parent directory %s: %w", dir, err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("reading parent directory %s: not a directory (%s)", dir, fi.Mode().Type())
		}
		if err := t.write(dir, fi); err != nil {
			return err
		}
	}
	return nil
}

// entry writes the added or modified entry p with its parents.
func (t *tarWriter) entry(p string) error {
	fi, err := t.lstat(p)
	if err != nil {
		return fmt.Errorf("reading %s: %w", p, err)
	}
	if fi.Mode()&fs.ModeSocket != 0 {
		return nil
	}
	if err := t.parents(p); err != nil {
		return err
	}
	return t.write(p, fi)
}

// write emits the header and content of p, described by fi.
func (t *tarWriter) write(p string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("reading %s: no stat data", p)
	}
	m := meta{
		name:  p,
		mode:  fi.Mode(),
		uid:   int(st.Uid),
		gid:   int(st.Gid),
		mtime: fi.ModTime(),
	}
	d, base, err := t.at(p)
	if err != nil {
		return err
	}
	xattrs, err := readXattrsAt(d, base)
	if err != nil {
		return err
	}
	m.xattrs = xattrs
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		if m.link, err = d.Readlink(base); err != nil {
			return fmt.Errorf("reading symlink %s: %w", p, err)
		}
	case fi.Mode()&fs.ModeDevice != 0:
		m.devMajor, m.devMinor = int64(unix.Major(uint64(st.Rdev))), int64(unix.Minor(uint64(st.Rdev)))
	case fi.Mode().IsRegular():
		m.size = fi.Size()
		if st.Nlink > 1 {
			id := inode{dev: uint64(st.Dev), ino: st.Ino} // Dev is int32 on darwin
			if first, seen := t.inodes[id]; seen {
				m.hardlink, m.link, m.size = true, first, 0
			} else {
				t.inodes[id] = p
			}
		}
	}
	h, err := tarHeader(m, t.opts)
	if err != nil {
		return err
	}
	if err := t.tw.WriteHeader(h); err != nil {
		return fmt.Errorf("writing header for %s: %w", p, err)
	}
	if fi.IsDir() {
		t.dirs[p] = true
	}
	if h.Typeflag == tar.TypeReg {
		return t.content(d, base, p, fi, h.Size)
	}
	return nil
}

// content copies exactly size bytes of the regular file p, the entry base
// of d. A file that was replaced or shrank since it was stat'ed would make
// the header lie, so that is an error rather than a silently different
// layer.
func (t *tarWriter) content(d *fsutil.Dir, base, p string, fi fs.FileInfo, size int64) error {
	f, err := d.Open(base)
	if err != nil {
		return fmt.Errorf("opening %s: %w", p, err)
	}
	defer f.Close()
	now, err := f.Stat()
	if err != nil {
		return fmt.Errorf("reading %s: %w", p, err)
	}
	if !fsutil.SameFile(fi, now) {
		return fmt.Errorf("reading %s: file was replaced while writing the layer", p)
	}
	if t.buf == nil {
		t.buf = make([]byte, copyBufferSize)
	}
	n, err := io.CopyBuffer(t.tw, io.LimitReader(f, size), t.buf)
	if err != nil {
		return fmt.Errorf("copying %s: %w", p, err)
	}
	if n != size {
		return fmt.Errorf("copying %s: file shrank while writing the layer (read %d of %d bytes)", p, n, size)
	}
	return nil
}
