package layer

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// entry applies one archive entry.
func (a *applier) entry(ctx context.Context, hdr *tar.Header, body io.Reader) error {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader:
		return nil
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse, tar.TypeDir, tar.TypeSymlink, tar.TypeLink,
		tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	default:
		return fmt.Errorf("extracting %q: unsupported entry type %q", hdr.Name, hdr.Typeflag)
	}
	if name == "" {
		// The root's own metadata belongs to whoever made root.
		return nil
	}
	dir, base := splitName(name)
	if strings.HasPrefix(base, whiteoutPrefix) {
		return a.whiteout(hdr, dir, base)
	}
	parent, err := a.openDir(dir, true)
	if err != nil {
		return fmt.Errorf("extracting %q: %w", hdr.Name, err)
	}
	err = a.create(ctx, parent, name, base, hdr, body)
	if cerr := parent.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("extracting %q: %w", hdr.Name, cerr)
	}
	if err != nil {
		return err
	}
	a.markUnpacked(name)
	return nil
}

// create makes the entry base in parent and restores its metadata.
func (a *applier) create(ctx context.Context, parent *os.File, name, base string, hdr *tar.Header, body io.Reader) error {
	pfd := int(parent.Fd())
	if hdr.Typeflag == tar.TypeLink {
		return a.link(pfd, name, base, hdr)
	}
	delete(a.skippedDevices, name)
	if a.opts.SkipDevices != nil && (hdr.Typeflag == tar.TypeChar || hdr.Typeflag == tar.TypeBlock) {
		return a.skipDevice(pfd, name, base)
	}
	if isRegular(hdr.Typeflag) {
		// The header's size is the file's full size, holes included, so
		// a file that would pass the limit fails before it is written.
		if err := a.content.take(hdr.Size); err != nil {
			return fmt.Errorf("extracting %q: %w", hdr.Name, err)
		}
	}
	merged, err := makeRoom(pfd, base, hdr.Typeflag == tar.TypeDir)
	if err != nil {
		return fmt.Errorf("extracting %q: replacing existing entry: %w", hdr.Name, err)
	}
	perm := uint32(hdr.Mode) & 0o7777
	switch hdr.Typeflag {
	case tar.TypeDir:
		if !merged {
			err = unix.Mkdirat(pfd, base, 0o700)
		}
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
		err = writeFile(ctx, pfd, base, body, a.copyBuf())
	case tar.TypeSymlink:
		err = unix.Symlinkat(hdr.Linkname, pfd, base)
	case tar.TypeChar:
		err = unix.Mknodat(pfd, base, unix.S_IFCHR|0o600, devNumber(hdr))
	case tar.TypeBlock:
		err = unix.Mknodat(pfd, base, unix.S_IFBLK|0o600, devNumber(hdr))
	case tar.TypeFifo:
		err = unix.Mknodat(pfd, base, unix.S_IFIFO|0o600, 0)
	}
	if err != nil {
		return fmt.Errorf("extracting %q: %w", hdr.Name, err)
	}
	if err := a.restore(pfd, base, hdr, perm); err != nil {
		return fmt.Errorf("extracting %q: %w", hdr.Name, err)
	}
	times := fileTimes{timespec(hdr.ModTime), timespec(hdr.ModTime)}
	if !hdr.AccessTime.IsZero() {
		times[0] = timespec(hdr.AccessTime)
	}
	if hdr.Typeflag == tar.TypeDir {
		a.dirTimes[name] = times
		return nil
	}
	delete(a.dirTimes, name)
	if err := unix.UtimesNanoAt(pfd, base, times[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("extracting %q: setting times: %w", hdr.Name, err)
	}
	return nil
}

// isRegular reports whether entries of type t carry file content.
func isRegular(t byte) bool {
	return t == tar.TypeReg || t == tar.TypeRegA || t == tar.TypeGNUSparse
}

// timespec converts t without going through nanoseconds since the epoch,
// which overflow for the far-off times an archive may claim.
func timespec(t time.Time) unix.Timespec {
	return unix.Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
}

// devNumber packs the header's device numbers for mknod.
func devNumber(hdr *tar.Header) int {
	return int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
}

// makeRoom makes room for a new entry at base: whatever is there is removed,
// unless both it and the new entry are directories, which merge.
func makeRoom(dirfd int, base string, dir bool) (merged bool, err error) {
	var st unix.Stat_t
	err = unix.Fstatat(dirfd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if dir && st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return true, nil
	}
	return false, removeAllAt(dirfd, base)
}

// writeFile creates base in dirfd (which must not exist) with the content
// of body. Runs of zero blocks become holes: sparse archive members (and
// zero-filled files) then cost no disk space, so a small archive cannot
// fill the disk with a huge sparse file.
func writeFile(ctx context.Context, dirfd int, base string, body io.Reader, buf []byte) error {
	fd, err := unix.Openat(dirfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), base)
	if err := copySparse(ctx, f, body, buf); err != nil {
		_ = f.Close() // the copy error matters more
		return err
	}
	return f.Close()
}

// copyBuf returns the buffer file content is copied through, shared by
// all entries of one Apply.
func (a *applier) copyBuf() []byte {
	if a.buf == nil {
		a.buf = make([]byte, 32*sparseBlock)
	}
	return a.buf
}

// sparseBlock is the unit copySparse checks for zeros; it matches common
// filesystem block sizes.
const sparseBlock = 4096

// copySparse copies r to f through buf, seeking over zero blocks instead
// of writing them, and sets f's final size.
func copySparse(ctx context.Context, f *os.File, r io.Reader, buf []byte) error {
	var size int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, rerr := fill(r, buf)
		if err := writeRuns(f, buf[:n], size); err != nil {
			return err
		}
		size += int64(n)
		if errors.Is(rerr, io.EOF) {
			return f.Truncate(size)
		}
		if rerr != nil {
			return rerr
		}
	}
}

// writeRuns writes the non-zero blocks of buf at offset base of f, each
// run of them with one call.
func writeRuns(f *os.File, buf []byte, base int64) error {
	start := -1
	for off := 0; off < len(buf); off += sparseBlock {
		end := min(off+sparseBlock, len(buf))
		if !isZero(buf[off:end]) {
			if start < 0 {
				start = off
			}
			continue
		}
		if start >= 0 {
			if _, err := f.WriteAt(buf[start:off], base+int64(start)); err != nil {
				return err
			}
			start = -1
		}
	}
	if start >= 0 {
		if _, err := f.WriteAt(buf[start:], base+int64(start)); err != nil {
			return err
		}
	}
	return nil
}

// fill reads into buf until it is full or r fails. Unlike io.ReadFull it
// keeps io.EOF and io.ErrUnexpectedEOF apart, so a truncated archive is
// not taken for the end of a file.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// isZero reports whether b holds only zero bytes.
func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// link creates the hard link base in dirfd to the entry the header names.
// The target is resolved inside root like any other name and must already
// exist there: a hard link is the one entry type that can expose a file
// the archive did not write, so the target may not be outside root.
func (a *applier) link(pfd int, name, base string, hdr *tar.Header) error {
	target, err := cleanName(hdr.Linkname)
	if err != nil {
		return &UnsafePathError{Name: hdr.Name, Reason: fmt.Sprintf("hard link target %q climbs above the root", hdr.Linkname)}
	}
	if target == "" {
		return &UnsafePathError{Name: hdr.Name, Reason: "hard link to the root"}
	}
	if target == name {
		return nil // a link to itself leaves the entry as it is
	}
	if a.skippedDevices[target] {
		return a.skipDevice(pfd, name, base)
	}
	delete(a.skippedDevices, name)
	tdir, tbase := splitName(target)
	tparent, err := a.openDir(tdir, false)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return &UnsafePathError{Name: hdr.Name, Reason: fmt.Sprintf("hard link target %q does not exist in the root", hdr.Linkname)}
	}
	if err != nil {
		return fmt.Errorf("extracting %q: %w", hdr.Name, err)
	}
	defer tparent.Close()
	tfd := int(tparent.Fd())
	var st unix.Stat_t
	if err := unix.Fstatat(tfd, tbase, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return &UnsafePathError{Name: hdr.Name, Reason: fmt.Sprintf("hard link target %q does not exist in the root", hdr.Linkname)}
		}
		return fmt.Errorf("extracting %q: reading link target: %w", hdr.Name, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return &UnsafePathError{Name: hdr.Name, Reason: fmt.Sprintf("hard link target %q is a directory", hdr.Linkname)}
	}
	if _, err := makeRoom(pfd, base, false); err != nil {
		return fmt.Errorf("extracting %q: replacing existing entry: %w", hdr.Name, err)
	}
	if err := unix.Linkat(tfd, tbase, pfd, base, 0); err != nil {
		return fmt.Errorf("extracting %q: %w", hdr.Name, err)
	}
	delete(a.dirTimes, name)
	return nil
}

// skipDevice leaves the device entry name out: what was at its path goes,
// as the entry would have replaced it, and nothing takes its place.
func (a *applier) skipDevice(pfd int, name, base string) error {
	if _, err := makeRoom(pfd, base, false); err != nil {
		return fmt.Errorf("extracting %q: replacing existing entry: %w", name, err)
	}
	if a.skippedDevices == nil {
		a.skippedDevices = make(map[string]bool)
	}
	a.skippedDevices[name] = true
	delete(a.dirTimes, name)
	a.opts.SkipDevices(name)
	return nil
}

// restore sets owner, mode and extended attributes of base, in the order
// the kernel needs: chown clears setuid/setgid and file capabilities, so
// chmod and xattrs come after it.
func (a *applier) restore(dirfd int, base string, hdr *tar.Header, perm uint32) error {
	if !a.opts.NoSameOwner {
		uid, gid := hdr.Uid, hdr.Gid
		if o := a.opts.Owner; o != nil {
			uid, gid = o.UID, o.GID
		}
		if err := unix.Fchownat(dirfd, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("changing owner: %w", err)
		}
	}
	if hdr.Typeflag != tar.TypeSymlink {
		// base was just created by this call and is not a symlink, so
		// following it is harmless.
		if err := unix.Fchmodat(dirfd, base, perm, 0); err != nil {
			return fmt.Errorf("changing mode: %w", err)
		}
	}
	return setXattrs(dirfd, base, hdr.PAXRecords)
}

// setXattrs restores the extended attributes recorded in PAX records.
func setXattrs(dirfd int, base string, records map[string]string) error {
	var names []string
	for k := range records {
		if name, ok := strings.CutPrefix(k, paxXattrPrefix); ok && applyXattr(name) {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	// The /proc path pins the parent by descriptor; only base, which is
	// not followed, is looked up by name.
	p := fmt.Sprintf("/proc/self/fd/%d/%s", dirfd, base)
	for _, name := range names {
		err := unix.Lsetxattr(p, name, []byte(records[paxXattrPrefix+name]), 0)
		if errors.Is(err, unix.ENOTSUP) && strings.HasPrefix(name, "user.") {
			continue // user xattrs are optional; the filesystem may lack them
		}
		if err != nil {
			return fmt.Errorf("setting xattr %s: %w", name, err)
		}
	}
	return nil
}
