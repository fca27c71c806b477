package source

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"syscall"
)

// HasMeta reports whether p contains wildcard characters.
func HasMeta(p string) bool {
	return strings.ContainsAny(p, `*?[`)
}

// GlobDir is the directory a wildcard pattern searches: its components
// before the first one with wildcard characters ("" for the root).
func GlobDir(pattern string) string {
	parts := strings.Split(clean(pattern), "/")
	for i, part := range parts {
		if HasMeta(part) {
			return path.Join(parts[:i]...)
		}
	}
	return path.Join(parts...)
}

// Glob returns the paths of fsys matching pattern (path.Match syntax, one
// component at a time), sorted. Symlinks are not followed while matching.
func Glob(fsys FS, pattern string) ([]string, error) {
	parts := strings.Split(clean(pattern), "/")
	matches := []string{""}
	for _, part := range parts {
		var next []string
		for _, dir := range matches {
			if !HasMeta(part) {
				p := path.Join(dir, part)
				// A wildcard before may have matched a file: nothing
				// is below it.
				if _, err := fsys.Lstat(p); err == nil {
					next = append(next, p)
				} else if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
					return nil, err
				}
				continue
			}
			if dir != "" {
				fi, err := fsys.Lstat(dir)
				if err != nil || !fi.IsDir() {
					continue
				}
			}
			ents, err := fsys.ReadDir(dir)
			if err != nil {
				return nil, fmt.Errorf("matching %s: %w", pattern, err)
			}
			for _, e := range ents {
				ok, err := path.Match(part, e.Name())
				if err != nil {
					return nil, fmt.Errorf("matching %s: %w", pattern, err)
				}
				if !ok {
					continue
				}
				next = append(next, path.Join(dir, e.Name()))
			}
		}
		matches = next
		if len(matches) == 0 {
			return nil, nil
		}
	}
	return matches, nil
}
