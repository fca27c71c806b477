package executor

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"syscall"

	"github.com/moby/patternmatcher"
	"github.com/ocibuilder/builder/internal/copier"
	"github.com/ocibuilder/builder/internal/source"
)

// COPY --parents keeps the paths of what a source selects below the
// destination, as BuildKit does. A source is split at its first "/./"
// into a pivot, the directory paths are kept below (the source's root
// without one), and a pattern of what to copy below it: a path, or a
// wildcard pattern in .dockerignore syntax ("**" included). The pivot is
// resolved like any source (symlinks followed, wildcards expanded); below
// it nothing is followed, so a symlink the pattern names is copied as a
// symlink and one on the way to it is not crossed. A pattern without
// wildcards must match; one with wildcards may match nothing.

// resolveParents returns the entries a COPY --parents source selects,
// each with its path below its pivot.
func (p *copyPlan) resolveParents(fsys source.FS, src string) ([]sourceMatch, error) {
	if err := checkInside(p.op, src); err != nil {
		return nil, err
	}
	pivot, pattern := splitPivot(src)
	pivots := []string{pivot}
	if source.HasMeta(pivot) {
		var err error
		if pivots, err = source.Glob(fsys, pivot); err != nil {
			return nil, fmt.Errorf("%s %q: %w", p.op, src, err)
		}
	}
	var out []sourceMatch
	for _, pv := range pivots {
		dir, err := resolveMatch(fsys, p.r, pv)
		if err != nil {
			return nil, err
		}
		if pattern == "" {
			// The whole directory, as without --parents.
			out = append(out, sourceMatch{name: pv, path: dir})
			continue
		}
		rels, err := matchBelow(fsys, dir, pattern, p.exclude)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", p.op, src, err)
		}
		if rels == nil && !source.HasMeta(pattern) {
			return nil, fmt.Errorf("%s %q: not found in %s", p.op, src, sourceName(p.r.from))
		}
		for _, rel := range rels {
			out = append(out, sourceMatch{name: rel, path: path.Join(dir, rel), rel: rel, pivot: dir})
		}
	}
	return out, nil
}

// splitPivot splits a --parents source into the directory paths are kept
// below ("" for the root) and the pattern below it ("" for all of it).
func splitPivot(src string) (pivot, pattern string) {
	pivot, pattern, ok := strings.Cut(src, "/./")
	if !ok {
		pivot, pattern = "", src
	}
	return rootRel(pivot), rootRel(pattern)
}

// rootRel cleans p as a path from the root, without the leading "/".
func rootRel(p string) string {
	return strings.TrimPrefix(path.Clean("/"+p), "/")
}

// checkInside refuses a source that names a path above the context root.
func checkInside(op, src string) error {
	if c := path.Clean(src); c == ".." || strings.HasPrefix(c, "../") {
		return fmt.Errorf("%s %q: %w", op, src, source.ErrOutsideContext)
	}
	return nil
}

// matchBelow lists the paths below dir that pattern selects, sorted: the
// topmost entries it matches (a match takes what is below it along), not
// counting those exclude leaves out. A pattern without wildcards selects
// itself, when it is there.
func matchBelow(fsys source.FS, dir, pattern string, exclude *patternmatcher.PatternMatcher) ([]string, error) {
	if !source.HasMeta(pattern) {
		if ok, err := plainPath(fsys, dir, pattern); !ok || copier.Excluded(exclude, pattern) {
			return nil, err
		}
		return []string{pattern}, nil
	}
	pm, err := patternmatcher.New([]string{pattern})
	if err != nil {
		return nil, err
	}
	start := source.GlobDir(pattern)
	if start != "" {
		if ok, err := plainPath(fsys, dir, start); !ok {
			return nil, err
		}
	}
	// Without "**", nothing deeper than the pattern can match.
	maxDepth := -1
	if !strings.Contains(pattern, "**") {
		maxDepth = strings.Count(pattern, "/") + 1
	}
	var out []string
	var walk func(rel string, depth int) error
	walk = func(rel string, depth int) error {
		ents, err := fsys.ReadDir(path.Join(dir, rel))
		if err != nil {
			return err
		}
		for _, e := range ents {
			r := path.Join(rel, e.Name())
			if copier.Excluded(exclude, r) {
				continue
			}
			if m, err := pm.MatchesOrParentMatches(r); err != nil {
				return err
			} else if m {
				out = append(out, r)
			} else if e.IsDir() && (maxDepth < 0 || depth+1 < maxDepth) {
				if err := walk(r, depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	depth := 0
	if start != "" {
		depth = strings.Count(start, "/") + 1
	}
	return out, walk(start, depth)
}

// plainPath reports whether rel names an entry below dir without passing
// through a symlink or a non-directory.
func plainPath(fsys source.FS, dir, rel string) (bool, error) {
	parts := strings.Split(rel, "/")
	for i := range parts {
		fi, err := fsys.Lstat(path.Join(dir, path.Join(parts[:i+1]...)))
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if i < len(parts)-1 && !fi.IsDir() {
			return false, nil
		}
	}
	return true, nil
}

// keptParents lists the source directories COPY --parents recreates for
// a match, between its pivot and the entry, from the top.
func keptParents(m sourceMatch) []string {
	var out []string
	for d := path.Dir(m.rel); m.rel != "" && d != "."; d = path.Dir(d) {
		out = append([]string{path.Join(m.pivot, d)}, out...)
	}
	return out
}
