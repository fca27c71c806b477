// Package source gives COPY and ADD read-only views of their sources: the
// build context filtered by .dockerignore, the filesystem of another stage,
// and remote URLs.
package source

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/moby/patternmatcher"
)

// FS is a read-only view of a tree addressed by slash paths relative to its
// root ("" or "." is the root). Both the build context and a stage's layer
// stack implement it.
type FS interface {
	Lstat(p string) (fs.FileInfo, error)
	ReadDir(p string) ([]fs.DirEntry, error)
	Readlink(p string) (string, error)
	Open(p string) (*os.File, error)
	// Resolve follows symlinks in p inside the view and returns the clean
	// relative path they lead to. followLast also follows a link in the
	// final component.
	Resolve(p string, followLast bool) (string, error)
}

// ErrOutsideContext is wrapped by errors for sources that lead out of the
// build context.
var ErrOutsideContext = errors.New("path leads outside the build context")

// Context is the build context directory seen through its .dockerignore
// rules: excluded paths do not exist for COPY and ADD.
type Context struct {
	root string
	pm   *patternmatcher.PatternMatcher
	dirs *ctxDirs
}

// OpenContext returns the context rooted at dir with the given .dockerignore
// patterns.
func OpenContext(dir string, ignore []string) (*Context, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("build context %s: %w", dir, err)
	}
	// Symlinks in the context's own path are fine; only links inside it are
	// confined.
	abs, err = filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("build context %s: %w", dir, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("build context %s: not a directory", dir)
	}
	pm, err := patternmatcher.New(ignore)
	if err != nil {
		return nil, fmt.Errorf("build context %s: .dockerignore: %w", dir, err)
	}
	dirs, err := openCtxDirs(abs)
	if err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	return &Context{root: abs, pm: pm, dirs: dirs}, nil
}

// Close releases the descriptors the context keeps on its directory; a
// Context not closed releases them once it is garbage collected.
func (c *Context) Close() error { return c.dirs.close() }

// Root returns the absolute context directory.
func (c *Context) Root() string { return c.root }

// Filtered reports whether the context has .dockerignore patterns, so
// that its directory as it is on the host holds more than the context.
func (c *Context) Filtered() bool { return len(c.pm.Patterns()) > 0 }

// Excluded reports whether .dockerignore excludes p.
func (c *Context) Excluded(p string) bool {
	p = clean(p)
	if p == "" {
		return false
	}
	m, err := c.pm.MatchesOrParentMatches(p)
	return err == nil && m
}

// visible reports whether p is part of the context as docker sends it: not
// excluded, or an excluded directory that "!" patterns re-include
// something below.
func (c *Context) visible(p string, isDir bool) bool {
	if !c.Excluded(p) {
		return true
	}
	return isDir && c.pm.Exclusions() && c.hasIncluded(p)
}

// hasIncluded reports whether the directory dir holds a visible entry.
func (c *Context) hasIncluded(dir string) bool {
	ents, err := c.dirs.readDir(clean(dir))
	if err != nil {
		return false
	}
	for _, e := range ents {
		p := path.Join(clean(dir), e.Name())
		if !c.Excluded(p) || (e.IsDir() && c.hasIncluded(p)) {
			return true
		}
	}
	return false
}

// HostFile returns the host path of the visible entry p, for reading its
// content by path (p must already be resolved).
func (c *Context) HostFile(p string) (string, error) {
	if c.Excluded(p) {
		return "", &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	return c.host(p), nil
}

func (c *Context) host(p string) string {
	return filepath.Join(c.root, filepath.FromSlash(clean(p)))
}

// Lstat stats p without following a final symlink.
func (c *Context) Lstat(p string) (fs.FileInfo, error) {
	fi, err := c.dirs.lstat(clean(p))
	if err != nil {
		return nil, err
	}
	if !c.visible(p, fi.IsDir()) {
		return nil, &fs.PathError{Op: "lstat", Path: p, Err: fs.ErrNotExist}
	}
	return fi, nil
}

// ReadDir lists the visible entries of p, sorted by name.
func (c *Context) ReadDir(p string) ([]fs.DirEntry, error) {
	ents, err := c.dirs.readDir(clean(p))
	if err != nil {
		return nil, err
	}
	out := ents[:0]
	for _, e := range ents {
		child := path.Join(clean(p), e.Name())
		if !c.visible(child, e.IsDir()) {
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

// Readlink returns the target of the symlink p.
func (c *Context) Readlink(p string) (string, error) {
	if c.Excluded(p) {
		return "", &fs.PathError{Op: "readlink", Path: p, Err: fs.ErrNotExist}
	}
	return c.dirs.readlink(clean(p))
}

// Open opens p for reading. p must already be resolved: a symlink in it is
// refused rather than followed.
func (c *Context) Open(p string) (*os.File, error) {
	if c.Excluded(p) {
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	return c.dirs.open(clean(p))
}

// Resolve follows symlinks in p inside the context. A link whose target
// leaves the context is an error wrapping ErrOutsideContext.
func (c *Context) Resolve(p string, followLast bool) (string, error) {
	return resolve(p, followLast, c.dirs.link, true)
}

// resolve walks p component by component, following links reported by
// link. With strict, a link leading above the root is an error; otherwise
// ".." stops at the root as it does inside a chroot.
func resolve(p string, followLast bool, link func(cur string) (target string, isLink bool, err error), strict bool) (string, error) {
	const maxHops = 255
	hops := 0
	rest := strings.Split(clean(p), "/")
	var done []string
	for len(rest) > 0 {
		name := rest[0]
		rest = rest[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			if len(done) == 0 {
				if strict {
					return "", fmt.Errorf("%s: %w", p, ErrOutsideContext)
				}
				continue
			}
			done = done[:len(done)-1]
			continue
		}
		cur := path.Join(append(done, name)...)
		if len(rest) == 0 && !followLast {
			done = append(done, name)
			break
		}
		target, isLink, err := link(cur)
		if errors.Is(err, fs.ErrNotExist) {
			// A missing component ends resolution: the rest is
			// taken literally (it may be about to be created).
			done = append(done, name)
			done = append(done, rest...)
			return clean(path.Join(done...)), nil
		}
		if err != nil {
			return "", err
		}
		if !isLink {
			done = append(done, name)
			continue
		}
		hops++
		if hops > maxHops {
			return "", fmt.Errorf("%s: %w", p, syscall.ELOOP)
		}
		if path.IsAbs(target) {
			if strict {
				return "", fmt.Errorf("%s: symlink %s -> %s: %w", p, cur, target, ErrOutsideContext)
			}
			done = nil
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return clean(path.Join(done...)), nil
}

// clean makes p a clean relative slash path; the root is "".
func clean(p string) string {
	p = path.Clean("/" + filepath.ToSlash(p))
	return strings.TrimPrefix(p, "/")
}

func orDot(p string) string {
	if p == "" {
		return "."
	}
	return p
}
