package executor

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/patternmatcher"
	"github.com/ocibuilder/builder/pkg/executor/source"
	"github.com/ocibuilder/builder/pkg/layer"
	"github.com/ocibuilder/builder/pkg/parser"
	"github.com/opencontainers/go-digest"
)

// copyRequest is a COPY or ADD after word expansion.
type copyRequest struct {
	srcs     []string
	contents []instructions.SourceContent
	dest     string
	from     string
	chown    string
	chmod    string
	exclude  []string
	parents  bool
	add      bool // ADD: URLs and local archives
	unpack   bool
	checksum string
}

// copyItem is one resolved source of a COPY.
type copyItem struct {
	fsys source.FS
	path string // resolved path in fsys
	// name is what a file copied into a directory is called: the base
	// of the source as named (not of a symlink's target), a heredoc's or
	// a download's name.
	name string
	// For content that is not in an FS (heredocs, downloads):
	open    func() (io.ReadCloser, error)
	mode    fs.FileMode
	modTime time.Time // zero: the build's creation time
}

// copyStep runs a COPY or ADD through the step cache. It reports whether
// the step changed the filesystem.
func (b *builder) copyStep(ctx context.Context, ss *stageState, step *parser.Step, r copyRequest, sr *stepRun) (bool, error) {
	if r.parents {
		return false, fmt.Errorf("%s --parents is not supported", r.op())
	}
	downloads := map[string]*source.Download{}
	defer func() {
		for _, d := range downloads {
			os.Remove(d.Path)
		}
	}()
	in, files, err := b.copyInput(ctx, ss, step, r, downloads, sr)
	if err != nil {
		return false, err
	}
	return b.layerStep(ss, step, sr, in, files, func() (bool, error) {
		return b.doCopy(ctx, ss, step, r, downloads, sr)
	})
}

func (r copyRequest) op() string {
	if r.add {
		return "ADD"
	}
	return "COPY"
}

// doCopy copies the sources into a new layer. downloads holds the URL
// sources fetched already, by URL; others are fetched and added.
func (b *builder) doCopy(ctx context.Context, ss *stageState, step *parser.Step, r copyRequest, downloads map[string]*source.Download, log io.Writer) (bool, error) {
	op := r.op()
	lower, err := b.stack(ctx, ss)
	if err != nil {
		return false, err
	}
	upper, err := b.state.scratchDir("upper-")
	if err != nil {
		return false, err
	}
	committed := false
	defer func() {
		if !committed {
			os.RemoveAll(upper)
		}
	}()
	cp, err := newCopier(ctx, upper, lower)
	if err != nil {
		return false, err
	}
	defer cp.close()
	if r.chown != "" {
		id, err := parseChown(chownSpec(r.chown), lower)
		if err != nil {
			return false, err
		}
		cp.owner = &id
	}
	if r.chmod != "" {
		m, err := parseChmod(r.chmod)
		if err != nil {
			return false, err
		}
		cp.chmod, cp.hasChmod = m, true
	}
	if cp.exclude, err = excludeMatcher(op, r.exclude); err != nil {
		return false, err
	}
	fsys, keepOwner, err := b.copySource(ctx, step, r.from, log)
	if err != nil {
		return false, err
	}
	if cx, ok := fsys.(*source.Context); ok && cx != b.context {
		// A named local context is opened for this step only.
		defer cx.Close()
	}
	cp.keepOwner = keepOwner

	dest := r.dest
	destIsDir := strings.HasSuffix(dest, "/") || dest == "." || strings.HasSuffix(dest, "/.")
	if !path.IsAbs(dest) {
		wd := ss.cfg.Config.WorkingDir
		if wd == "" {
			wd = "/"
		}
		dest = path.Join(wd, dest)
	}

	var items []copyItem
	for _, src := range r.srcs {
		if source.IsURL(src) {
			if !r.add {
				return false, fmt.Errorf("COPY %q: source can't be a URL; use ADD", src)
			}
			d, ok := downloads[src]
			if !ok {
				if d, err = source.Fetch(ctx, b.opts.HTTPClient, src, b.state.tmp, digest.Digest(r.checksum)); err != nil {
					return false, err
				}
				downloads[src] = d
			}
			items = append(items, copyItem{name: d.Name, path: d.Path, mode: 0o600, modTime: d.ModTime})
			continue
		}
		if fsys == nil {
			return false, fmt.Errorf("%s %q: the build has no context", op, src)
		}
		matches, err := resolveSource(fsys, r, src)
		if err != nil {
			return false, err
		}
		for _, m := range matches {
			items = append(items, copyItem{fsys: fsys, path: m.path, name: path.Base(m.name)})
		}
	}
	for _, c := range r.contents {
		data := c.Data
		items = append(items, copyItem{name: path.Base(c.Path), path: "", mode: 0o644,
			open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(data)), nil }})
	}
	if len(items) > 1 && !destIsDir {
		// docker's own wording.
		return false, fmt.Errorf("When using %s with more than one source file, the destination must be a directory and end with a /", op)
	}
	resolved, err := cp.resolveDest(strings.TrimPrefix(path.Clean(dest), "/"))
	if err != nil {
		return false, fmt.Errorf("%s destination %s: %w", op, dest, err)
	}
	for _, it := range items {
		if err := b.copyOne(ctx, cp, it, resolved, destIsDir, r); err != nil {
			return false, err
		}
	}
	if err := cp.finish(); err != nil {
		return false, err
	}
	changed, err := b.commitLayerAsync(ctx, ss, step.Loc, upper, cp.changes())
	committed = changed && err == nil
	return changed, err
}

// sourceMatch is one entry a local source selects.
type sourceMatch struct {
	name string // as the Dockerfile names it or a wildcard matched it
	path string // where name leads, symlinks followed
}

// resolveSource returns the entries of fsys a local source selects: the
// matches of a wildcard, or the source itself. As in docker, a wildcard
// that matches nothing selects nothing, but the directory it searches
// must exist.
func resolveSource(fsys source.FS, r copyRequest, src string) ([]sourceMatch, error) {
	op := r.op()
	if r.checksum != "" {
		return nil, fmt.Errorf("ADD --checksum needs a URL source, not %q", src)
	}
	if c := path.Clean(src); c == ".." || strings.HasPrefix(c, "../") {
		return nil, fmt.Errorf("%s %q: %w", op, src, source.ErrOutsideContext)
	}
	matches := []string{src}
	if source.HasMeta(src) {
		var err error
		if matches, err = source.Glob(fsys, src); err != nil {
			return nil, fmt.Errorf("%s %q: %w", op, src, err)
		}
		if len(matches) == 0 {
			if dir := source.GlobDir(src); dir != "" {
				if _, err := resolveMatch(fsys, r, dir); err != nil {
					return nil, err
				}
			}
			return nil, nil
		}
	}
	out := make([]sourceMatch, 0, len(matches))
	for _, m := range matches {
		p, err := resolveMatch(fsys, r, m)
		if err != nil {
			return nil, err
		}
		out = append(out, sourceMatch{name: m, path: p})
	}
	return out, nil
}

// resolveMatch follows the symlinks of m in fsys to an entry that exists.
func resolveMatch(fsys source.FS, r copyRequest, m string) (string, error) {
	op := r.op()
	p, err := fsys.Resolve(m, true)
	if err != nil {
		return "", fmt.Errorf("%s %q: %w", op, m, err)
	}
	if _, err := fsys.Lstat(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%s %q: not found in %s", op, m, sourceName(r.from))
		}
		return "", fmt.Errorf("%s %q: %w", op, m, err)
	}
	return p, nil
}

// chownSpec reads an empty user in a --chown value as root and an empty
// group as none given, as docker does: "--chown=$U:$G" with neither set
// keeps the default ownership.
func chownSpec(s string) string {
	u, g, _ := strings.Cut(s, ":")
	if u == "" {
		u = "0"
	}
	if g == "" {
		return u
	}
	return u + ":" + g
}

// excludeMatcher compiles --exclude patterns; nil when there are none.
func excludeMatcher(op string, patterns []string) (*patternmatcher.PatternMatcher, error) {
	if len(patterns) == 0 {
		return nil, nil
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf("%s --exclude: %w", op, err)
	}
	return pm, nil
}

// copyOne copies a single source to the resolved destination.
func (b *builder) copyOne(ctx context.Context, cp *copier, it copyItem, dest string, destIsDir bool, r copyRequest) error {
	target := func(name string) string {
		if destIsDir || cp.isDir(dest) {
			return path.Join(dest, name)
		}
		return dest
	}
	if it.fsys == nil {
		// Heredoc or download.
		t := target(it.name)
		if err := cp.mkdirAll(parentDir(t), cp.dirPerm()); err != nil {
			return err
		}
		rc, err := it.openContent()
		if err != nil {
			return err
		}
		defer rc.Close()
		mt := it.modTime
		if mt.IsZero() {
			mt = b.created()
		}
		return cp.writeFile(t, rc, it.mode, mt)
	}
	fi, err := it.fsys.Lstat(it.path)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return cp.copyInto(it.fsys, it.path, dest)
	}
	if r.add && r.unpack && fi.Mode().IsRegular() {
		isArch, err := isArchive(it.fsys, it.path)
		if err != nil {
			return err
		}
		if isArch {
			return b.unpack(ctx, cp, it.fsys, it.path, dest)
		}
	}
	t := target(it.name)
	if err := cp.mkdirAll(parentDir(t), cp.dirPerm()); err != nil {
		return err
	}
	return cp.copyEntry(it.fsys, it.path, t, fi)
}

func (it copyItem) openContent() (io.ReadCloser, error) {
	if it.open != nil {
		return it.open()
	}
	return os.Open(it.path)
}

func sourceName(from string) string {
	if from == "" {
		return "the build context"
	}
	return from
}

// copySource picks the filesystem COPY reads from: the build context, a
// stage, or a named context. keepOwner is true for sources whose ownership
// is part of the content (another image's filesystem).
func (b *builder) copySource(ctx context.Context, step *parser.Step, from string, log io.Writer) (source.FS, bool, error) {
	if from == "" {
		if b.context == nil {
			return nil, false, nil
		}
		return b.context, false, nil
	}
	if step.From != nil {
		ss, err := b.stageResult(ctx, step.From)
		if err != nil {
			return nil, false, fmt.Errorf("--from=%s: %w", from, err)
		}
		fsys, err := b.stack(ctx, ss)
		return fsys, true, err
	}
	name := step.FromRef
	if name == "" {
		name = from
	}
	if v, ok := b.namedContext(name); ok {
		_, _, isLayout, err := parseOCILayoutContext(v)
		if err != nil {
			return nil, false, fmt.Errorf("build context %s: %w", name, err)
		}
		if !isLayout {
			cx, err := source.OpenContext(v, nil)
			return cx, false, err
		}
	} else if b.opts.Resolver == nil {
		return nil, false, fmt.Errorf("--from=%s: no stage or build context of that name, and no registry access configured", name)
	}
	img, err := b.namedImage(ctx, name, b.opts.Platform, log)
	if err != nil {
		return nil, false, err
	}
	ss := &stageState{cfg: img.Config, layers: img.Layers, dirs: make([]string, len(img.Layers))}
	fsys, err := b.stack(ctx, ss)
	return fsys, true, err
}

// isArchive reports whether a file is a tar archive, possibly compressed
// (gzip, bzip2, xz, zstd), which ADD extracts.
func isArchive(fsys source.FS, p string) (bool, error) {
	f, err := fsys.Open(p)
	if err != nil {
		return false, err
	}
	defer f.Close()
	rc, _, err := layer.Decompress(f)
	if err != nil {
		return false, nil
	}
	defer rc.Close()
	_, err = tar.NewReader(rc).Next()
	return err == nil, nil
}

// unpack extracts an archive into the destination directory, confined to
// it. As in docker, --chown owns every entry, and --chmod applies neither
// to the entries nor to the directory made for them.
func (b *builder) unpack(ctx context.Context, cp *copier, fsys source.FS, p, dest string) error {
	if err := cp.mkdirAll(dest, 0o755); err != nil {
		return err
	}
	f, err := fsys.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	opts := layer.ApplyOptions{Whiteouts: layer.WhiteoutOCI, MaxSize: applyLimit(b.opts.MaxArchiveSize, DefaultMaxArchiveSize)}
	if cp.owner != nil {
		opts.Owner = &layer.Owner{UID: int(cp.owner.UID), GID: int(cp.owner.GID)}
	}
	if _, err := layer.Apply(ctx, filepath.Join(cp.upperDir, filepath.FromSlash(dest)), f, opts); err != nil {
		return fmt.Errorf("ADD %q: extracting: %w", p, err)
	}
	return nil
}

// mkdirStep creates directory p (WORKDIR) when the image lacks it and
// commits the result as a layer.
func (b *builder) mkdirStep(ctx context.Context, ss *stageState, p string) (bool, error) {
	lower, err := b.stack(ctx, ss)
	if err != nil {
		return false, err
	}
	rel, err := lower.Resolve(strings.TrimPrefix(p, "/"), true)
	if err != nil {
		return false, fmt.Errorf("WORKDIR %q: %w", p, err)
	}
	if fi, err := lower.Lstat(rel); err == nil {
		if !fi.IsDir() {
			return false, fmt.Errorf("WORKDIR %q: not a directory in the image", p)
		}
		return false, nil
	}
	upper, err := b.state.scratchDir("upper-")
	if err != nil {
		return false, err
	}
	committed := false
	defer func() {
		if !committed {
			os.RemoveAll(upper)
		}
	}()
	cp, err := newCopier(ctx, upper, lower)
	if err != nil {
		return false, err
	}
	defer cp.close()
	if u := ss.cfg.Config.User; u != "" {
		id, err := workdirOwner(u, lower)
		if err != nil {
			return false, fmt.Errorf("WORKDIR %q: %w", p, err)
		}
		cp.owner = &id
	}
	if err := cp.mkdirAll(rel, 0o755); err != nil {
		return false, err
	}
	if err := cp.finish(); err != nil {
		return false, err
	}
	changed, err := b.commitLayer(ctx, ss, upper, cp.changes(), true)
	committed = changed
	return changed, err
}

// parseChmod parses an octal --chmod value.
func parseChmod(s string) (fs.FileMode, error) {
	n, err := strconv.ParseUint(s, 8, 32)
	if err != nil || n > 0o7777 {
		return 0, fmt.Errorf("--chmod=%s: want an octal mode such as 0755", s)
	}
	m := fs.FileMode(n & 0o777)
	if n&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if n&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if n&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m, nil
}
