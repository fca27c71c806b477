package fsutil

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// CreateTemp opens a temporary file in dir for a file to be named base.
// Where the filesystem supports O_TMPFILE the file has no name (named is
// false) and vanishes if the process dies before linkTemp; elsewhere it
// is a named sibling the caller removes on failure.
func CreateTemp(dir, base string) (f *os.File, named bool, err error) {
	fd, err := openTmpfile(dir)
	if err == nil {
		return os.NewFile(uintptr(fd), filepath.Join(dir, "."+base+".tmp")), false, nil
	}
	if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EINVAL) {
		return nil, false, err
	}
	f, err = os.CreateTemp(dir, "."+base+".tmp-*")
	return f, true, err
}

// LinkTemp gives the unnamed file f a temporary name in dir and returns
// it. linkat through /proc/self/fd needs no capability, unlike
// AT_EMPTY_PATH.
func LinkTemp(f *os.File, dir, base string) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	name := filepath.Join(dir, "."+base+".tmp-"+hex.EncodeToString(b[:]))
	src := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	if err := unix.Linkat(unix.AT_FDCWD, src, unix.AT_FDCWD, name, unix.AT_SYMLINK_FOLLOW); err != nil {
		return "", fmt.Errorf("linking %s: %w", name, err)
	}
	return name, nil
}
