package source

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/moby/patternmatcher/ignorefile"
)

// ReadIgnoreFile returns the .dockerignore patterns for a build: a
// "<Dockerfile>.dockerignore" beside the Dockerfile takes precedence over
// "<context>/.dockerignore". A missing file means no patterns, and so
// does anything but a regular file (see openIgnoreFile).
func ReadIgnoreFile(contextDir, dockerfile string) ([]string, error) {
	type candidate struct{ dir, name string }
	candidates := []candidate{{contextDir, ".dockerignore"}}
	if dockerfile != "" && dockerfile != "-" {
		candidates = append([]candidate{{filepath.Dir(dockerfile), filepath.Base(dockerfile) + ".dockerignore"}}, candidates...)
	}
	for _, c := range candidates {
		f, err := openIgnoreFile(c.dir, c.name)
		if err != nil {
			return nil, fmt.Errorf("reading ignore file %s: %w", filepath.Join(c.dir, c.name), err)
		}
		if f == nil {
			continue
		}
		defer f.Close()
		pats, err := ignorefile.ReadAll(f)
		if err != nil {
			return nil, fmt.Errorf("reading ignore file %s: %w", filepath.Join(c.dir, c.name), err)
		}
		return pats, nil
	}
	return nil, nil
}

// openIgnoreFile opens the ignore file name in dir as BuildKit reads it
// from the directory the client sent: symlinks are followed inside dir
// only, an absolute or ".." target being taken from dir as from the root
// of a chroot, so no file outside dir is ever read. It returns nil when
// the path leads to nothing or to anything but a regular file.
func openIgnoreFile(dir, name string) (*os.File, error) {
	d, err := openCtxDirs(dir)
	if err != nil {
		return nil, err
	}
	defer d.close()
	rel, err := resolve(name, true, d.link, false)
	if errors.Is(err, syscall.ELOOP) {
		return nil, nil
	}
	if err != nil || rel == "" {
		return nil, nilIfMissing(err)
	}
	// Lstat first: opening a FIFO would block.
	fi, err := d.lstat(rel)
	if err != nil || !fi.Mode().IsRegular() {
		return nil, nilIfMissing(err)
	}
	f, err := d.open(rel)
	if err != nil {
		return nil, nilIfMissing(err)
	}
	// The entry may have changed since the Lstat.
	if fi, err = f.Stat(); err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil
	}
	return f, nil
}

// nilIfMissing is err, or nil when err says a path leads to nothing: an
// ignore file that is not there is no error.
func nilIfMissing(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil
	}
	return err
}
