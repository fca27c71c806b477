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
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/ocibuilder/builder/internal/copier"
	"github.com/ocibuilder/builder/internal/imageuser"
	"github.com/ocibuilder/builder/internal/source"
	"github.com/ocibuilder/builder/pkg/layer"
	"github.com/ocibuilder/builder/pkg/parser"
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
	link     bool
	add      bool  // ADD: URLs and local archives
	unpack   *bool // ADD --unpack; nil when not given
	checksum string
	// keepGitDir is ADD --keep-git-dir; nil when not given.
	keepGitDir *bool
	// opName is what messages call the step when it is not a COPY or
	// an ADD (a RUN mount's source).
	opName string
}

// copyStep runs a COPY or ADD through the step cache. It reports whether
// the step changed the filesystem.
func (b *builder) copyStep(ctx context.Context, ss *stageState, step *parser.Step, r copyRequest, sr *stepRun) (bool, error) {
	if r.linked() && r.chown != "" && imageuser.ChownByName(r.chown) {
		// BuildKit's rule: a linked copy does not see the image's
		// /etc/passwd and /etc/group.
		return false, fmt.Errorf("--chown=%s: user and group names can't be resolved when used with --link, use numeric uid[:gid] instead", r.chown)
	}
	p, err := b.planCopy(ctx, step, r, sr)
	if err != nil {
		return false, err
	}
	defer p.close()
	in, files, err := p.input(ctx, ss)
	if err != nil {
		return false, err
	}
	run := b.layerStep
	if r.linked() {
		run = b.linkedLayerStep
	}
	return run(ss, step, sr, in, files, func() (bool, error) {
		return b.doCopy(ctx, ss, step, p)
	})
}

// op is the instruction's name, for messages and the cache key.
func (r copyRequest) op() string {
	if r.opName != "" {
		return r.opName
	}
	if r.add {
		return "ADD"
	}
	return "COPY"
}

// unpackLocal reports whether ADD extracts local archives: unless
// --unpack=false.
func (r copyRequest) unpackLocal() bool {
	return r.add && (r.unpack == nil || *r.unpack)
}

// unpackURL reports whether ADD extracts downloaded archives: only with
// --unpack=true, as in BuildKit.
func (r copyRequest) unpackURL() bool {
	return r.add && r.unpack != nil && *r.unpack
}

// doCopy copies what the plan resolved into a new layer.
func (b *builder) doCopy(ctx context.Context, ss *stageState, step *parser.Step, p *copyPlan) (bool, error) {
	lower, err := b.copyLower(ctx, ss, p.r)
	if err != nil {
		return false, err
	}
	opts := copier.Options{Chmod: p.chmod, HasChmod: p.hasChmod, Exclude: p.exclude}
	if p.r.chown != "" {
		id, err := imageuser.Chown(p.r.chown, lower)
		if err != nil {
			return false, err
		}
		opts.Owner = ownerOf(id)
	}
	fsys, keepOwner, err := p.source(ctx)
	if err != nil {
		return false, err
	}
	opts.KeepOwner = keepOwner
	fst, err := b.newFileStep(ctx, lower, opts)
	if err != nil {
		return false, err
	}
	defer fst.close()
	items, err := p.items(ctx, fsys)
	if err != nil {
		return false, err
	}
	if err := b.copyItems(ctx, fst.cp, ss, p, items); err != nil {
		return false, err
	}
	changed, err := b.commitLayerAsync(ctx, ss, step.Loc, fst.upper, fst.cp.Changes())
	fst.keep = changed && err == nil
	return changed, err
}

// copyItems writes the items to the step's destination, made absolute
// against the working directory.
func (b *builder) copyItems(ctx context.Context, cp *copier.Copier, ss *stageState, p *copyPlan, items []copyItem) error {
	dest := p.r.dest
	// With --parents the sources keep their paths below the destination,
	// as below a directory.
	destIsDir := strings.HasSuffix(dest, "/") || dest == "." || strings.HasSuffix(dest, "/.") || p.r.parents
	if !path.IsAbs(dest) {
		wd := ss.cfg.Config.WorkingDir
		if wd == "" {
			wd = "/"
		}
		dest = path.Join(wd, dest)
	}
	if len(items) > 1 && !destIsDir {
		// docker's own wording.
		return fmt.Errorf("When using %s with more than one source file, the destination must be a directory and end with a /", p.op)
	}
	resolved, err := cp.ResolveDest(strings.TrimPrefix(path.Clean(dest), "/"))
	if err != nil {
		return fmt.Errorf("%s destination %s: %w", p.op, dest, err)
	}
	if p.r.parents {
		// As in BuildKit, whatever the patterns match.
		if err := cp.MkdirDest(resolved); err != nil {
			return err
		}
	}
	for _, it := range items {
		if err := b.copyOne(ctx, cp, it, resolved, destIsDir, p.r); err != nil {
			return err
		}
	}
	return cp.Finish()
}

// sourceMatch is one entry a local source selects.
type sourceMatch struct {
	name string // as the Dockerfile names it or a wildcard matched it
	path string // where name leads, symlinks followed
	// With COPY --parents: the path the entry keeps below the
	// destination (also name), and the directory it is below.
	rel, pivot string
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
	if err := checkInside(op, src); err != nil {
		return nil, err
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

// copyOne copies a single source to the resolved destination.
func (b *builder) copyOne(ctx context.Context, cp *copier.Copier, it copyItem, dest string, destIsDir bool, r copyRequest) error {
	target := func(name string) string {
		if destIsDir || cp.IsDir(dest) {
			return path.Join(dest, name)
		}
		return dest
	}
	if it.fsys == nil {
		// Heredoc or download.
		if it.url && r.unpackURL() {
			done, err := b.unpackArchive(ctx, cp, func() (*os.File, error) { return os.Open(it.path) }, it.name, dest)
			if err != nil || done {
				return err
			}
		}
		t := target(it.name)
		if err := cp.MkdirParents(t); err != nil {
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
		return cp.WriteFile(t, rc, it.mode, mt)
	}
	if it.rel != "" {
		return cp.CopyWithParents(it.fsys, it.pivot, it.rel, dest)
	}
	fi, err := it.fsys.Lstat(it.path)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return cp.CopyInto(it.fsys, it.path, dest)
	}
	if r.unpackLocal() && fi.Mode().IsRegular() {
		done, err := b.unpackArchive(ctx, cp, func() (*os.File, error) { return it.fsys.Open(it.path) }, it.path, dest)
		if err != nil || done {
			return err
		}
	}
	t := target(it.name)
	if err := cp.MkdirParents(t); err != nil {
		return err
	}
	return cp.CopyEntry(it.fsys, it.path, t, fi)
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

// isArchive reports whether a file is a tar archive, possibly compressed
// (gzip, bzip2, xz, zstd), which ADD extracts.
func isArchive(open func() (*os.File, error)) (bool, error) {
	f, err := open()
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

// unpackArchive extracts the file open opens into the destination
// directory, confined to it, when it is an archive; done is false when it
// is not. As in BuildKit, --chown owns every entry and the directory made
// for them, and --chmod applies to neither.
func (b *builder) unpackArchive(ctx context.Context, cp *copier.Copier, open func() (*os.File, error), name, dest string) (done bool, err error) {
	if isArch, err := isArchive(open); err != nil || !isArch {
		return false, err
	}
	if err := cp.MkdirAll(dest, 0o755); err != nil {
		return false, err
	}
	f, err := open()
	if err != nil {
		return false, err
	}
	defer f.Close()
	if err := cp.Extract(ctx, f, dest, applyLimit(b.opts.MaxArchiveSize, DefaultMaxArchiveSize)); err != nil {
		return false, fmt.Errorf("ADD %q: extracting: %w", name, err)
	}
	return true, nil
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
