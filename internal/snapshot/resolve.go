package snapshot

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"golang.org/x/sys/unix"
)

// maxLinkHops bounds symlink following so that link cycles end in ELOOP.
const maxLinkHops = 255

// Resolve resolves p inside the view as the kernel would inside a chroot at
// the view's root: every symlink component is followed within the view, an
// absolute target starts again at the root and ".." stops at the root, so
// the result never leaves the view. The final component is followed only
// when followLast is set or p ends in "/". It returns the clean slash path
// relative to the root ("" for the root).
//
// Components that do not exist are kept as they are, so the result can name
// something to create. More than 255 link hops is an error matching
// unix.ELOOP; a non-directory followed by more components is an error
// matching unix.ENOTDIR naming that non-directory.
func (s *Stack) Resolve(p string, followLast bool) (string, error) {
	if strings.HasSuffix(p, "/") {
		followLast = true
	}
	todo := components(p)
	var done []string
	hops := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		if c == ".." {
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		cand := append(done[:len(done):len(done)], c)
		if len(todo) == 0 && !followLast {
			done = cand
			break
		}
		rel := strings.Join(cand, "/")
		n, release, err := lookup(s.dirs, rel)
		if errors.Is(err, fs.ErrNotExist) {
			done = cand // nothing to follow; a later ".." may lead back
			continue
		}
		if err != nil {
			return "", fmt.Errorf("resolving %s: %w", p, err)
		}
		var target string
		if n.fi.Mode()&fs.ModeSymlink != 0 {
			target, err = n.at.Readlink(n.rel)
		}
		release()
		switch {
		case n.fi.Mode()&fs.ModeSymlink != 0:
			hops++
			if hops > maxLinkHops {
				return "", &fs.PathError{Op: "resolve", Path: p, Err: unix.ELOOP}
			}
			if err != nil {
				return "", fmt.Errorf("resolving %s: reading link %s: %w", p, rel, err)
			}
			if target == "" {
				return "", &fs.PathError{Op: "resolve", Path: rel, Err: unix.ENOENT}
			}
			if strings.HasPrefix(target, "/") {
				done = done[:0]
			}
			todo = append(components(target), todo...)
		case n.isDir():
			done = cand
		case len(todo) > 0:
			return "", &fs.PathError{Op: "resolve", Path: rel, Err: unix.ENOTDIR}
		default:
			done = cand
		}
	}
	return strings.Join(done, "/"), nil
}

// components splits a slash path into its components, dropping empty ones
// and ".".
func components(p string) []string {
	var out []string
	for c := range strings.SplitSeq(p, "/") {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}
