package copier

import (
	"context"
	"fmt"
	"io/fs"
	"path"

	"github.com/moby/patternmatcher"
	"github.com/ocibuilder/builder/internal/source"
)

// Walk calls fn for every entry below the directory dir of fsys, a
// directory before its contents, skipping what exclude (--exclude; nil
// for none) excludes. rel is dir's path below the source as named, which
// the patterns match. The step's cache key and the copy both walk sources
// with it, so they agree on what a COPY reads; entries come with the
// listing's stat.
func Walk(ctx context.Context, fsys source.FS, dir, rel string, exclude *patternmatcher.PatternMatcher, fn func(p, rel string, fi fs.FileInfo) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("reading %q: %w", dir, err)
	}
	for _, e := range ents {
		r := path.Join(rel, e.Name())
		if Excluded(exclude, r) {
			continue
		}
		p := path.Join(dir, e.Name())
		fi, err := e.Info()
		if err != nil {
			return fmt.Errorf("reading %q: %w", p, err)
		}
		if err := fn(p, r, fi); err != nil {
			return err
		}
		if fi.IsDir() {
			if err := Walk(ctx, fsys, p, r, exclude, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// Excluded reports whether --exclude patterns exclude rel, a path below
// a source directory; nil excludes nothing.
func Excluded(exclude *patternmatcher.PatternMatcher, rel string) bool {
	if exclude == nil {
		return false
	}
	m, err := exclude.MatchesOrParentMatches(rel)
	return err == nil && m
}
