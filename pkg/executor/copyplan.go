package executor

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/ocibuilder/builder/internal/cache"
	"github.com/ocibuilder/builder/internal/copier"
	"github.com/ocibuilder/builder/internal/source"
	"github.com/ocibuilder/builder/pkg/oci"
	"github.com/ocibuilder/builder/pkg/parser"
	"github.com/opencontainers/go-digest"
)

// copyPlan is a COPY or ADD resolved once per step. The step-cache key
// (input) and the copy (doCopy) both read it, as BuildKit derives an op's
// cache map from the op it executes: the parsed --chmod and --exclude, the
// downloads of URL sources, where --from leads and the local sources'
// matches there are worked out here, not twice.
//
// What only the copy needs is resolved on first use, so that a cache hit
// reads nothing it does not key by: the filesystem of a stage or image
// (its layers extracted), downloads of URLs with a --checksum, --chown
// (looked up in the image the copy writes to).
type copyPlan struct {
	b    *builder
	step *parser.Step
	r    copyRequest
	op   string
	log  io.Writer

	chmod    fs.FileMode // --chmod, when hasChmod
	hasChmod bool
	exclude  *patternmatcher.PatternMatcher // --exclude; nil when none

	local     []string                    // the sources that are not URLs, in order
	downloads map[string]*source.Download // URL sources fetched, by URL; removed by close
	gits      map[string]*gitSource       // git sources, by source; checkouts removed by close

	from      copyFrom
	named     *source.Context // a named local context, opened for this step
	image     *oci.Image      // the image --from names, once loaded
	matches   [][]sourceMatch // per local source, once resolved
	matchesIn source.FS       // the filesystem matches were resolved in
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
	url     bool      // a download, at path on the host
	// With COPY --parents, rel is the path the entry keeps below the
	// destination, and pivot the directory of fsys it is below.
	rel, pivot string
}

// fromKind is what a step's --from names.
type fromKind int

const (
	fromBuildContext fromKind = iota // no --from
	fromStage                        // an earlier stage
	fromLocal                        // a named context that is a local directory
	fromImage                        // a named oci-layout context, or an image to resolve
)

// copyFrom is where a step's local sources are read, as named; nothing
// is opened to find it.
type copyFrom struct {
	kind  fromKind
	stage *parser.Stage // the stage, for fromStage
	name  string        // the context or image name
	named bool          // name is a named build context
	value string        // the named context's value
}

// planCopy parses and checks a COPY or ADD and works out where its
// sources are. URL sources without a --checksum are fetched here: the key
// names them by their content. Git sources are resolved to a commit here,
// which the key names; they are checked out only when the copy runs.
func (b *builder) planCopy(ctx context.Context, step *parser.Step, r copyRequest, log io.Writer) (*copyPlan, error) {
	p := b.newCopyPlan(step, r, log)
	if r.chmod != "" {
		m, err := parseChmod(r.chmod)
		if err != nil {
			return nil, err
		}
		p.chmod, p.hasChmod = m, true
	}
	var err error
	if p.exclude, err = excludeMatcher(p.op, r.exclude); err != nil {
		return nil, err
	}
	for _, src := range r.srcs {
		if isGit, err := p.planGit(ctx, src); isGit || err != nil {
			if err != nil {
				p.close()
				return nil, err
			}
			continue
		}
		if !source.IsURL(src) {
			p.local = append(p.local, src)
			continue
		}
		if !r.add {
			p.close()
			return nil, fmt.Errorf("COPY %q: source can't be a URL; use ADD", src)
		}
		if r.checksum == "" {
			if _, err := p.download(ctx, src); err != nil {
				p.close()
				return nil, err
			}
		}
	}
	p.from = b.copyFrom(step.From, step.FromRef, r.from)
	return p, nil
}

// newCopyPlan is an empty plan of request r for step.
func (b *builder) newCopyPlan(step *parser.Step, r copyRequest, log io.Writer) *copyPlan {
	return &copyPlan{b: b, step: step, r: r, op: r.op(), log: log, downloads: map[string]*source.Download{},
		gits: map[string]*gitSource{}}
}

// copyFrom classifies what a --from (or a mount's from=) names: stage is
// the stage the parser linked it to, ref the image or context reference
// it recorded instead ("" for the value as written).
func (b *builder) copyFrom(stage *parser.Stage, ref, from string) copyFrom {
	switch {
	case from == "":
		return copyFrom{kind: fromBuildContext}
	case stage != nil:
		return copyFrom{kind: fromStage, stage: stage, name: stageLabel(stage)}
	}
	name := ref
	if name == "" {
		name = from
	}
	f := copyFrom{kind: fromImage, name: name}
	if v, ok := b.namedContext(name); ok {
		f.named, f.value = true, v
		// A value that is not a layout fails when loaded as an image,
		// naming the context.
		if _, _, isLayout, err := parseOCILayoutContext(v); err == nil && !isLayout {
			f.kind = fromLocal
		}
	}
	return f
}

// close closes the named context the plan opened and removes downloads.
func (p *copyPlan) close() {
	if p.named != nil {
		p.named.Close()
	}
	for _, d := range p.downloads {
		os.Remove(d.Path)
	}
	for _, g := range p.gits {
		g.close()
	}
}

// download fetches a URL source once, checked against --checksum.
func (p *copyPlan) download(ctx context.Context, src string) (*source.Download, error) {
	if d, ok := p.downloads[src]; ok {
		return d, nil
	}
	d, err := source.Fetch(ctx, p.b.opts.HTTPClient, src, p.b.state.tmp, digest.Digest(p.r.checksum))
	if err != nil {
		return nil, err
	}
	p.downloads[src] = d
	return d, nil
}

// namedContext opens the named local context --from names, once.
func (p *copyPlan) namedContext() (*source.Context, error) {
	if p.named == nil {
		cx, err := source.OpenContext(p.from.value, nil)
		if err != nil {
			return nil, err
		}
		p.named = cx
	}
	return p.named, nil
}

// loadImage loads the image --from names, once.
func (p *copyPlan) loadImage(ctx context.Context) (*oci.Image, error) {
	if p.image == nil {
		img, err := p.b.namedImage(ctx, p.from.name, p.b.opts.Platform, p.log)
		if err != nil {
			return nil, err
		}
		p.image = img
	}
	return p.image, nil
}

// imageID identifies the image --from names by its manifest digest.
func (p *copyPlan) imageID(ctx context.Context) (string, error) {
	img, err := p.loadImage(ctx)
	if err != nil {
		return "", err
	}
	desc, _, err := img.Manifest(ctx)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", p.from.name, err)
	}
	return desc.Digest.String(), nil
}

// resolveLocal resolves the local sources in fsys, once per filesystem.
func (p *copyPlan) resolveLocal(fsys source.FS) ([][]sourceMatch, error) {
	if p.matches != nil && p.matchesIn == fsys {
		return p.matches, nil
	}
	out := make([][]sourceMatch, len(p.local))
	for i, src := range p.local {
		var ms []sourceMatch
		var err error
		if p.r.parents {
			ms, err = p.resolveParents(fsys, src)
		} else {
			ms, err = resolveSource(fsys, p.r, src)
		}
		if err != nil {
			return nil, err
		}
		out[i] = ms
	}
	p.matches, p.matchesIn = out, fsys
	return out, nil
}

// input is the cache input of the step: its expanded words, and the
// identity of what it reads. Context files are listed with their content
// digests (hashed in parallel, through the stat cache); stages by the
// chain ID of their layers; images by manifest digest; URLs by checksum or
// by the content of the download.
func (p *copyPlan) input(ctx context.Context, ss *stageState) (cache.Input, []cache.File, error) {
	r := p.r
	in := cache.Input{Op: p.op, Workdir: ss.cfg.Config.WorkingDir, BuildArgs: usedArgs(ss, p.step)}
	in.Args = append(in.Args, "--from="+r.from, "--chown="+r.chown, "--chmod="+r.chmod,
		"--unpack="+strconv.FormatBool(r.unpackLocal()), "--checksum="+r.checksum, "--dest="+r.dest)
	for _, f := range []struct {
		name string
		set  bool
	}{{"--unpack-urls", r.unpackURL()}, {"--parents", r.parents}, {"--link", r.linked()}} {
		if f.set {
			in.Args = append(in.Args, f.name)
		}
	}
	for _, e := range r.exclude {
		in.Args = append(in.Args, "--exclude="+e)
	}
	if r.keepGitDir != nil {
		in.Args = append(in.Args, "--keep-git-dir="+strconv.FormatBool(*r.keepGitDir))
	}
	in.Args = append(in.Args, r.srcs...)
	for _, c := range r.contents {
		in.Args = append(in.Args, "<<"+c.Path+"="+digest.FromString(c.Data).String())
	}
	for _, src := range r.srcs {
		if g := p.gits[src]; g != nil {
			in.Sources = append(in.Sources, g.cacheSource())
			continue
		}
		if !source.IsURL(src) {
			continue
		}
		if r.checksum != "" {
			in.Sources = append(in.Sources, "url "+src+" "+r.checksum)
			continue
		}
		sum, err := p.b.hasher.Digests(ctx, []string{p.downloads[src].Path})
		if err != nil {
			return cache.Input{}, nil, err
		}
		in.Sources = append(in.Sources, "url "+src+" "+sum[0].String())
	}
	if len(p.local) == 0 {
		return in, nil, nil
	}
	return p.fromInput(ctx, in)
}

// fromInput adds to in the identity of what --from names, or the context
// files the local sources select.
func (p *copyPlan) fromInput(ctx context.Context, in cache.Input) (cache.Input, []cache.File, error) {
	var cx *source.Context
	switch p.from.kind {
	case fromStage:
		src, err := p.b.stageResult(ctx, p.from.stage)
		if err != nil {
			return cache.Input{}, nil, err
		}
		// The stage by what it holds: its key names its inputs, and a
		// stage run again with --no-cache-filter can hold other bytes
		// under the same key.
		in.Sources = append(in.Sources, "stage "+p.from.name+" "+chainOf(src.cfg.RootFS.DiffIDs).String())
		return in, nil, nil
	case fromImage:
		id, err := p.imageID(ctx)
		if err != nil {
			return cache.Input{}, nil, err
		}
		in.Sources = append(in.Sources, "image "+p.from.name+" "+id)
		return in, nil, nil
	case fromLocal:
		var err error
		if cx, err = p.namedContext(); err != nil {
			return cache.Input{}, nil, err
		}
		in.Sources = append(in.Sources, "context "+p.from.name)
	default:
		if p.b.context == nil {
			return in, nil, nil // the copy reports the missing context
		}
		cx = p.b.context
	}
	files, names, err := p.contextFiles(ctx, cx)
	if err != nil {
		return cache.Input{}, nil, err
	}
	in.Args = append(in.Args, names...)
	in.Files = cache.FilesDigest(files)
	return in, files, nil
}

// contextFiles lists the entries of a context that the local sources
// select, as the copier walks them (copier.Walk), with the digests of regular
// files. names records, for each selected symlink, the name its copy
// takes, which the listing (by resolved path) does not show:
// "--name=PATH=NAME".
func (p *copyPlan) contextFiles(ctx context.Context, cx *source.Context) (files []cache.File, names []string, err error) {
	var hostPaths []string
	var hostInfos []fs.FileInfo // the walk's lstat, so the hasher need not stat again
	var fileIdx []int
	record := func(fp, _ string, fi fs.FileInfo) error {
		f := cache.File{Path: fp, Mode: uint32(fi.Mode().Type() | copier.ModeBits(fi.Mode()))}
		if p.hasChmod && fi.Mode()&fs.ModeSymlink == 0 {
			f.Mode = uint32(fi.Mode().Type() | p.chmod)
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			t, err := cx.Readlink(fp)
			if err != nil {
				return fmt.Errorf("%s %q: %w", p.op, fp, err)
			}
			f.Link = t
		case fi.Mode().IsRegular():
			hp, err := cx.HostFile(fp)
			if err != nil {
				return fmt.Errorf("%s %q: %w", p.op, fp, err)
			}
			hostPaths = append(hostPaths, hp)
			hostInfos = append(hostInfos, fi)
			fileIdx = append(fileIdx, len(files))
		}
		files = append(files, f)
		return nil
	}
	matches, err := p.resolveLocal(cx)
	if err != nil {
		return nil, nil, err
	}
	listed := map[string]bool{} // the directories --parents keeps, once
	list := func(fp string, walk bool, rel string) error {
		fi, err := cx.Lstat(fp)
		if err != nil {
			return fmt.Errorf("%s %q: %w", p.op, fp, err)
		}
		if err := record(fp, "", fi); err != nil || !walk || !fi.IsDir() {
			return err
		}
		return copier.Walk(ctx, cx, fp, rel, p.exclude, record)
	}
	for _, ms := range matches {
		for _, m := range ms {
			if path.Base(m.name) != path.Base(m.path) {
				names = append(names, "--name="+m.path+"="+path.Base(m.name))
			}
			for _, d := range keptParents(m) {
				if !listed[d] {
					listed[d] = true
					if err := list(d, false, ""); err != nil {
						return nil, nil, err
					}
				}
			}
			if err := list(m.path, true, m.rel); err != nil {
				return nil, nil, err
			}
		}
	}
	sums, err := p.b.hasher.DigestsOf(ctx, hostPaths, hostInfos)
	if err != nil {
		return nil, nil, err
	}
	for i, j := range fileIdx {
		files[j].Digest = sums[i]
	}
	return files, names, nil
}

// source opens the filesystem the local sources are read from for the
// copy: the build context (nil when the build has none), a stage's or an
// image's layers, or a named local context. keepOwner is true for sources
// whose ownership is part of the content (another image's filesystem).
func (p *copyPlan) source(ctx context.Context) (fsys source.FS, keepOwner bool, err error) {
	b := p.b
	switch p.from.kind {
	case fromBuildContext:
		if b.context == nil {
			return nil, false, nil
		}
		return b.context, false, nil
	case fromLocal:
		cx, err := p.namedContext()
		return cx, false, err
	}
	ss, err := p.stage(ctx)
	if err != nil {
		return nil, false, err
	}
	fsys, err = b.stack(ctx, ss)
	return fsys, true, err
}

// stage returns the stage or the image --from names, as a stage's state
// whose layers can be stacked.
func (p *copyPlan) stage(ctx context.Context) (*stageState, error) {
	if p.from.kind == fromStage {
		ss, err := p.b.stageResult(ctx, p.from.stage)
		if err != nil {
			return nil, fmt.Errorf("--from=%s: %w", p.r.from, err)
		}
		return ss, nil
	}
	if !p.from.named && p.b.opts.Resolver == nil {
		return nil, fmt.Errorf("--from=%s: no stage or build context of that name, and no registry access configured", p.from.name)
	}
	img, err := p.loadImage(ctx)
	if err != nil {
		return nil, err
	}
	return imageStage(img), nil
}

// items lists what the copy writes, in the order the sources are given:
// downloads, the entries local sources select in fsys, then heredocs.
func (p *copyPlan) items(ctx context.Context, fsys source.FS) ([]copyItem, error) {
	var items []copyItem
	var matches [][]sourceMatch
	li := 0
	for _, src := range p.r.srcs {
		if g := p.gits[src]; g != nil {
			it, err := p.gitItem(ctx, g)
			if err != nil {
				return nil, err
			}
			items = append(items, it)
			continue
		}
		if source.IsURL(src) {
			d, err := p.download(ctx, src)
			if err != nil {
				return nil, err
			}
			items = append(items, copyItem{name: d.Name, path: d.Path, mode: 0o600, modTime: d.ModTime, url: true})
			continue
		}
		if fsys == nil {
			return nil, fmt.Errorf("%s %q: the build has no context", p.op, src)
		}
		if matches == nil {
			var err error
			if matches, err = p.resolveLocal(fsys); err != nil {
				return nil, err
			}
		}
		for _, m := range matches[li] {
			items = append(items, copyItem{fsys: fsys, path: m.path, name: path.Base(m.name), rel: m.rel, pivot: m.pivot})
		}
		li++
	}
	for _, c := range p.r.contents {
		data := c.Data
		items = append(items, copyItem{name: path.Base(c.Path), mode: 0o644,
			open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(data)), nil }})
	}
	return items, nil
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
