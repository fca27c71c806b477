package layer

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// entry applies one archive entry.
func (a *applier) entry(hdr *tar.Header, body io.Reader) error {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader:
		return nil
	case tar.TypeReg, tar.TypeRegA, tar.TypeDir, tar.TypeSymlink, tar.TypeLink,
		tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	default:
		return fmt.Errorf("extracting %s: unsupported entry type %q", hdr.Name, hdr.Typeflag)
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
		return fmt.Errorf("extracting %s: %w", hdr.Name, err)
	}
	err = a.create(parent, name, base, hdr, body)
	if cerr := parent.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("extracting %s: %w", hdr.Name, cerr)
	}
	if err != nil {
		return err
	}
	a.markUnpacked(name)
	return nil
}

// create makes the entry base in parent and restores its metadata.
func (a *applier) create(parent *os.File, name, base string, hdr *tar.Header, body io.Reader) error {
	pfd := int(parent.Fd())
	if hdr.Typeflag == tar.TypeLink {
		return a.link(pfd, name, base, hdr)
	}
	merged, err := makeRoom(pfd, base, hdr.Typeflag == tar.TypeDir)
	if err != nil {
		return fmt.Errorf("extracting %s: replacing existing entry: %w", hdr.Name, err)
	}
	perm := uint32(hdr.Mode) & 0o7777
	switch hdr.Typeflag {
	case tar.TypeDir:
		if !merged {
			err = unix.Mkdirat(pfd, base, 0o700)
		}
	case tar.TypeReg, tar.TypeRegA:
		err = writeFile(pfd, base, body)
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
		return fmt.Errorf("extracting %s: %w", hdr.Name, err)
	}
	if err := a.restore(pfd, base, hdr, perm); err != nil {
		return fmt.Errorf("extracting %s: %w", hdr.Name, err)
	}
	times := fileTimes{unix.NsecToTimespec(hdr.ModTime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	if !hdr.AccessTime.IsZero() {
		times[0] = unix.NsecToTimespec(hdr.AccessTime.UnixNano())
	}
	if hdr.Typeflag == tar.TypeDir {
		a.dirTimes[name] = times
		return nil
	}
	delete(a.dirTimes, name)
	if err := unix.UtimesNanoAt(pfd, base, times[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("extracting %s: setting times: %w", hdr.Name, err)
	}
	return nil
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
// of body.
func writeFile(dirfd int, base string, body io.Reader) error {
	fd, err := unix.Openat(dirfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), base)
	if _, err := io.Copy(f, body); err != nil {
		_ = f.Close() // the copy error matters more
		return err
	}
	return f.Close()
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
	tdir, tbase := splitName(target)
	tparent, err := a.openDir(tdir, false)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return &UnsafePathError{Name: hdr.Name, Reason: fmt.Sprintf("hard link target %q does not exist in the root", hdr.Linkname)}
	}
	if err != nil {
		return fmt.Errorf("extracting %s: %w", hdr.Name, err)
	}
	defer tparent.Close()
	tfd := int(tparent.Fd())
	var st unix.Stat_t
	if err := unix.Fstatat(tfd, tbase, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return &UnsafePathError{Name: hdr.Name, Reason: fmt.Sprintf("hard link target %q does not exist in the root", hdr.Linkname)}
		}
		return fmt.Errorf("extracting %s: reading link target: %w", hdr.Name, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return &UnsafePathError{Name: hdr.Name, Reason: fmt.Sprintf("hard link target %q is a directory", hdr.Linkname)}
	}
	if _, err := makeRoom(pfd, base, false); err != nil {
		return fmt.Errorf("extracting %s: replacing existing entry: %w", hdr.Name, err)
	}
	if err := unix.Linkat(tfd, tbase, pfd, base, 0); err != nil {
		return fmt.Errorf("extracting %s: %w", hdr.Name, err)
	}
	delete(a.dirTimes, name)
	return nil
}

// restore sets owner, mode and extended attributes of base, in the order
// the kernel needs: chown clears setuid/setgid and file capabilities, so
// chmod and xattrs come after it.
func (a *applier) restore(dirfd int, base string, hdr *tar.Header, perm uint32) error {
	if !a.opts.NoSameOwner {
		if err := unix.Fchownat(dirfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
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
