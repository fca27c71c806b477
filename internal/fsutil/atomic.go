package fsutil

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFileAtomic replaces the file at path with the bytes write produces.
//
// The data goes to an unnamed temporary file in the same directory
// (O_TMPFILE, so a process killed while writing leaves nothing behind; a
// named temporary sibling where the filesystem lacks O_TMPFILE), which is
// fsynced, given a name, renamed over path and followed by an fsync of the
// directory. If write or any step fails, the temporary file is removed and
// path is left as it was.
func WriteFileAtomic(path string, perm fs.FileMode, write func(w io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, named, err := CreateTemp(dir, base)
	if err != nil {
		return fmt.Errorf("creating temporary file for %s: %w", path, err)
	}
	tmp := f.Name()
	closed := false
	defer func() {
		if err == nil {
			return
		}
		if !closed {
			_ = f.Close() // the write error is the one worth reporting
		}
		if named {
			_ = os.Remove(tmp)
		}
	}()

	bw := bufio.NewWriterSize(f, 256<<10)
	if err := write(bw); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	// CreateTemp uses 0600; the caller's mode is applied explicitly so the
	// process umask does not change what other readers get.
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("setting mode of %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	if fi, statErr := os.Lstat(path); statErr == nil && fi.IsDir() {
		return fmt.Errorf("replacing %s: %w", path, errIsDir)
	}
	if !named {
		// The name exists only between this link and the rename.
		if tmp, err = LinkTemp(f, dir, base); err != nil {
			return fmt.Errorf("naming temporary file for %s: %w", path, err)
		}
		named = true
	}
	closed = true
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("renaming into place %s: %w", path, err)
	}
	return SyncDir(dir)
}

var errIsDir = errors.New("destination is a directory")
