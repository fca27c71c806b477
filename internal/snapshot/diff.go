package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"

	"github.com/ocibuilder/builder/internal/fsutil"
	"github.com/ocibuilder/builder/pkg/layer"
)

// ErrRedirect is returned by Changes when the upper directory holds an
// overlayfs redirect or metacopy entry. Such entries only appear when the
// mount used redirect_dir or metacopy, and their content cannot be told from
// the upper directory alone; mount with redirect_dir=off,metacopy=off.
var ErrRedirect = errors.New("overlay redirect or metacopy entry in upper directory")

// Changes diffs an overlayfs upper directory against the stack that was
// mounted below it. The walk follows the upper directory in the order given
// in the package documentation:
//
//   - a whiteout (0/0 character device) is a Delete if the path exists in
//     lower, otherwise it is dropped;
//   - a directory marked opaque (trusted.overlay.opaque or
//     user.overlay.opaque "y") hides lower only if lower has a directory
//     there (the kernel marks every directory created over a whiteout
//     opaque); then its content is diffed in full against lower, so
//     lower-only entries become one Delete each;
//   - an entry present in both with the same metadata is a copy-up and is
//     dropped, but its children are still diffed;
//   - anything else is a Modify if lower has the path and an Add if not.
//
// Every path reported other than a Delete exists in upper, which is the root
// to render the changes from. Paths in exclude (slash paths relative to the
// root, such as mount stubs like "etc/hosts") are skipped with everything
// under them. An entry with an overlay redirect or metacopy xattr aborts the
// diff with an error matching ErrRedirect.
func Changes(upper string, lower *Stack, exclude ...string) layer.Changes {
	return func(ctx context.Context, fn layer.ChangeFunc) error {
		return diffFrom(ctx, fn, upper, lower, true, exclude)
	}
}

// DirChanges diffs root, a complete tree (a copy made by Materialize that a
// step then ran in), against lower by walking both. For the same logical
// difference it reports exactly what Changes reports for an overlay upper
// directory: same kinds, same paths, same order. Every path reported other
// than a Delete exists in root. exclude is as for Changes.
func DirChanges(root string, lower *Stack, exclude ...string) layer.Changes {
	return func(ctx context.Context, fn layer.ChangeFunc) error {
		return diffFrom(ctx, fn, root, lower, false, exclude)
	}
}

// diffFrom runs one diff from the roots of upper and lower.
func diffFrom(ctx context.Context, fn layer.ChangeFunc, upper string, lower *Stack, overlay bool, exclude []string) error {
	lowers, root, err := openRoot(lower.dirs)
	if err != nil {
		return err
	}
	defer lowers.close()
	up, err := fsutil.OpenDir(upper)
	if err != nil {
		return fmt.Errorf("opening upper directory: %w", err)
	}
	defer up.Close()
	d := &differ{ctx: ctx, fn: fn, overlay: overlay, exclude: make(map[string]bool, len(exclude))}
	for _, e := range exclude {
		if rel := cleanRel(e); rel != "" {
			d.exclude[rel] = true
		}
	}
	return d.dir("", up, root.dir(), overlay)
}

// differ holds what stays fixed during one diff.
type differ struct {
	ctx context.Context
	fn  layer.ChangeFunc
	// overlay says upper is an overlayfs upper directory, whose entries
	// need the redirect check.
	overlay bool
	exclude map[string]bool
}

// upperEntry is one entry of an upper directory.
type upperEntry struct {
	name string
	fi   fs.FileInfo
}

// dir diffs the upper directory up (at rel in the view) against the lower
// union directory lower (without layers when lower has no directory
// there). When
// merged is set, upper is an overlay layer over lower: names missing from
// upper are unchanged. Otherwise upper is the complete new content, so
// names only lower has are Deletes.
func (d *differ) dir(rel string, up *fsutil.Dir, lower udir, merged bool) error {
	ups, err := readUpper(up)
	if err != nil {
		return err
	}
	if merged || len(lower.layers) == 0 {
		for _, u := range ups {
			lo, found, err := child(lower, u.name)
			if err != nil {
				return err
			}
			if err := d.entry(rel, up, &u, lo, found, merged); err != nil {
				return err
			}
		}
		return nil
	}
	lows, err := list(lower)
	if err != nil {
		return err
	}
	// Merge-join the two sorted lists.
	i, j := 0, 0
	for i < len(ups) || j < len(lows) {
		switch {
		case j == len(lows) || (i < len(ups) && ups[i].name < lows[j].name):
			err = d.entry(rel, up, &ups[i], node{}, false, false)
			i++
		case i == len(ups) || lows[j].name < ups[i].name:
			err = d.entry(rel, up, &upperEntry{name: lows[j].name}, lows[j], true, false)
			j++
		default:
			err = d.entry(rel, up, &ups[i], lows[j], true, false)
			i++
			j++
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// entry diffs one name of directory rel, held by up. u.fi is nil when
// upper lacks the name; lo is the lower entry when found.
func (d *differ) entry(rel string, up *fsutil.Dir, u *upperEntry, lo node, found, merged bool) error {
	if err := d.ctx.Err(); err != nil {
		return err
	}
	p := u.name
	if rel != "" {
		p = rel + "/" + u.name
	}
	if d.exclude[p] {
		return nil
	}
	if u.fi != nil && d.overlay {
		if err := checkRedirect(up, u.name, p); err != nil {
			return err
		}
	}
	if u.fi == nil || isWhiteout(u.fi) {
		if found {
			return d.fn(layer.ChangeDelete, p, nil)
		}
		return nil
	}
	var lower udir
	childMerged := false
	if found {
		same, err := sameEntry(u.fi, up, u.name, lo.fi, lo.at, lo.rel)
		if err != nil {
			return fmt.Errorf("diffing %s: %w", p, err)
		}
		if !same {
			if err := d.fn(layer.ChangeModify, p, u.fi); err != nil {
				return err
			}
		}
		if u.fi.IsDir() && lo.isDir() {
			if merged {
				opaque, err := xattrIs(up, u.name, "y", xattrOpaque, xattrUserOpaque)
				if err != nil {
					return fmt.Errorf("diffing %s: %w", p, err)
				}
				childMerged = !opaque
			}
			lower = lo.dir()
		}
	} else if err := d.fn(layer.ChangeAdd, p, u.fi); err != nil {
		return err
	}
	if !u.fi.IsDir() {
		return nil
	}
	sub, err := up.OpenDir(u.name)
	if err != nil {
		return fmt.Errorf("diffing %s: %w", p, err)
	}
	defer sub.Close()
	return d.dir(p, sub, lower, childMerged)
}

// readUpper lists the upper directory up sorted by name, with lstat data.
func readUpper(up *fsutil.Dir) ([]upperEntry, error) {
	names, err := up.Names()
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	out := make([]upperEntry, 0, len(names))
	for _, name := range names {
		fi, err := up.Lstat(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed while listing; the tree is not quiescent
		}
		if err != nil {
			return nil, fmt.Errorf("inspecting: %w", err)
		}
		out = append(out, upperEntry{name: name, fi: fi})
	}
	return out, nil
}

// checkRedirect fails for an upper entry (name in up, p in the view) that
// overlayfs redirected or copied up metadata-only.
func checkRedirect(up *fsutil.Dir, name, p string) error {
	names, err := up.ListXattrs(name)
	if err != nil {
		return err
	}
	for _, n := range names {
		switch n {
		case xattrRedirect, xattrUserRedirect, xattrMetacopy, xattrUserMetacopy:
			return fmt.Errorf("diffing %s: %w (xattr %s)", p, ErrRedirect, n)
		}
	}
	return nil
}
