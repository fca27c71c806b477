package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrOverlayTooLong is wrapped by the error for an overlay whose mount data
// does not fit in one page even with relative lower directory names.
var ErrOverlayTooLong = errors.New("overlay mount options too long")

// overlayData is the data argument of an overlay mount and the directory the
// mounting process must be in for the relative names in it to resolve.
type overlayData struct {
	dir  string
	data string
}

// overlayMountData builds the overlay mount options for o (paths absolute
// and clean). The kernel copies at most one page of mount data, NUL included,
// so the directories below the one the mount is made from are named relative
// to it. That directory is the one, among the lower directories' parents and
// their common ancestor, that gives the shortest options. The result is
// refused when it still exceeds the page.
func overlayMountData(o Overlay, page int) (overlayData, error) {
	common := filepath.Dir(o.LowerDirs[0])
	candidates := make([]string, 0, len(o.LowerDirs)+1)
	seen := make(map[string]bool, len(o.LowerDirs))
	for _, l := range o.LowerDirs {
		p := filepath.Dir(l)
		common = commonDir(common, p)
		if !seen[p] {
			seen[p] = true
			candidates = append(candidates, p)
		}
	}
	if !seen[common] {
		candidates = append(candidates, common)
	}
	best := overlayData{}
	for _, dir := range candidates {
		d := overlayData{dir: dir, data: formatOverlayData(dir, o)}
		if best.data == "" || len(d.data) < len(best.data) {
			best = d
		}
	}
	if len(best.data)+1 > page {
		return overlayData{}, fmt.Errorf("%w: %d lower directories need %d bytes of mount data, over the %d-byte limit",
			ErrOverlayTooLong, len(o.LowerDirs), len(best.data)+1, page)
	}
	return best, nil
}

// formatOverlayData writes the mount options as seen from dir.
func formatOverlayData(dir string, o Overlay) string {
	var b strings.Builder
	b.WriteString("lowerdir=")
	// The kernel lists the topmost lower directory first.
	for i := len(o.LowerDirs) - 1; i >= 0; i-- {
		if i != len(o.LowerDirs)-1 {
			b.WriteByte(':')
		}
		b.WriteString(escapeOverlayPath(shorterName(dir, o.LowerDirs[i])))
	}
	b.WriteString(",upperdir=")
	b.WriteString(escapeOverlayPath(shorterName(dir, o.UpperDir)))
	b.WriteString(",workdir=")
	b.WriteString(escapeOverlayPath(shorterName(dir, o.WorkDir)))
	b.WriteString(",index=off,metacopy=off,redirect_dir=off")
	return b.String()
}

// commonDir returns the deepest directory holding both a and b (absolute,
// clean).
func commonDir(a, b string) string {
	for a != b {
		if len(a) > len(b) {
			a = filepath.Dir(a)
		} else if len(b) > len(a) {
			b = filepath.Dir(b)
		} else {
			a, b = filepath.Dir(a), filepath.Dir(b)
		}
	}
	return a
}

// shorterName names p relative to dir when p is below dir and that is
// shorter. Names climbing out with ".." are never used: after chdir into a
// path through a symlink, ".." leads to the physical parent, not the one the
// name suggests.
func shorterName(dir, p string) string {
	rel, err := filepath.Rel(dir, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") || len(rel) >= len(p) {
		return p
	}
	return rel
}

// escapeOverlayPath escapes the characters overlayfs's option parser treats
// specially: ',' separates options, ':' separates lower directories and '\'
// escapes either.
func escapeOverlayPath(p string) string {
	if !strings.ContainsAny(p, `\:,`) {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if c := p[i]; c == '\\' || c == ':' || c == ',' {
			b.WriteByte('\\')
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

func pageSize() int { return os.Getpagesize() }
