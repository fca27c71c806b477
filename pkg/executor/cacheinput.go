package executor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strconv"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/ocibuilder/builder/internal/platforms"
	"github.com/ocibuilder/builder/pkg/executor/cache"
	"github.com/ocibuilder/builder/pkg/executor/source"
	"github.com/ocibuilder/builder/pkg/parser"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// platform is the stage's platform as "os/arch[/variant]".
func (s *stageState) platform() string {
	return platforms.Format(ocispec.Platform{OS: s.cfg.OS, Architecture: s.cfg.Architecture, Variant: s.cfg.Variant})
}

// argList is the stage's set ARGs as NAME=value, as RUN sees them.
func (s *stageState) argList() []string {
	var out []string
	for _, a := range s.args {
		if a.set {
			out = append(out, a.name+"="+a.value)
		}
	}
	return out
}

// runInput is the cache input of a RUN step.
func runInput(ss *stageState, c *instructions.RunCommand, args []string, devFiles map[string][]byte, network NetworkMode) (cache.Input, error) {
	in := cache.Input{
		Op:        "RUN",
		Args:      slices.Clone(args),
		BuildArgs: ss.argList(),
		Env:       slices.Clone(ss.cfg.Config.Env),
		User:      ss.cfg.Config.User,
		Workdir:   ss.cfg.Config.WorkingDir,
		Network:   string(network),
	}
	for _, name := range sortedKeys(devFiles) {
		in.Args = append(in.Args, "--file="+name+"="+digest.FromBytes(devFiles[name]).String())
	}
	for _, m := range instructions.GetMounts(c) {
		raw, err := json.Marshal(m)
		if err != nil {
			return cache.Input{}, fmt.Errorf("RUN --mount: %w", err)
		}
		in.Args = append(in.Args, "--mount="+string(raw))
	}
	if sec := instructions.GetSecurity(c); sec != "" {
		in.Args = append(in.Args, "--security="+sec)
	}
	return in, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// copyInput is the cache input of a COPY or ADD: its expanded words, and
// the identity of what it reads. Context files are listed with their
// content digests (hashed in parallel, through the stat cache); stages by
// the chain ID of their layers; images by manifest digest; URLs by
// checksum or by the content of the download.
func (b *builder) copyInput(ctx context.Context, ss *stageState, step *parser.Step, r copyRequest, downloads map[string]*source.Download, log io.Writer) (cache.Input, []cache.File, error) {
	op := r.op()
	in := cache.Input{Op: op, Workdir: ss.cfg.Config.WorkingDir, BuildArgs: usedArgs(ss, step)}
	in.Args = append(in.Args, "--from="+r.from, "--chown="+r.chown, "--chmod="+r.chmod,
		"--unpack="+strconv.FormatBool(r.add && r.unpack), "--checksum="+r.checksum, "--dest="+r.dest)
	for _, e := range r.exclude {
		in.Args = append(in.Args, "--exclude="+e)
	}
	in.Args = append(in.Args, r.srcs...)
	for _, c := range r.contents {
		in.Args = append(in.Args, "<<"+c.Path+"="+digest.FromString(c.Data).String())
	}
	var local []string
	for _, src := range r.srcs {
		if !source.IsURL(src) {
			local = append(local, src)
			continue
		}
		if !r.add {
			return cache.Input{}, nil, fmt.Errorf("COPY %q: source can't be a URL; use ADD", src)
		}
		if r.checksum != "" {
			in.Sources = append(in.Sources, "url "+src+" "+r.checksum)
			continue
		}
		d, ok := downloads[src]
		if !ok {
			var err error
			if d, err = source.Fetch(ctx, b.opts.HTTPClient, src, b.state.tmp, ""); err != nil {
				return cache.Input{}, nil, err
			}
			downloads[src] = d
		}
		sum, err := b.hasher.Digests(ctx, []string{d.Path})
		if err != nil {
			return cache.Input{}, nil, err
		}
		in.Sources = append(in.Sources, "url "+src+" "+sum[0].String())
	}
	if len(local) == 0 {
		return in, nil, nil
	}
	if r.from != "" {
		if step.From != nil {
			src, err := b.stageResult(ctx, step.From)
			if err != nil {
				return cache.Input{}, nil, err
			}
			// The stage by what it holds: its key names its inputs,
			// and a stage run again with --no-cache-filter can hold
			// other bytes under the same key.
			in.Sources = append(in.Sources, "stage "+stageLabel(step.From)+" "+chainOf(src.cfg.RootFS.DiffIDs).String())
			return in, nil, nil
		}
		name := step.FromRef
		if name == "" {
			name = r.from
		}
		if v, ok := b.namedContext(name); ok {
			if _, _, isLayout, err := parseOCILayoutContext(v); err != nil || isLayout {
				id, err := b.imageID(ctx, name, log)
				if err != nil {
					return cache.Input{}, nil, err
				}
				in.Sources = append(in.Sources, "image "+name+" "+id)
				return in, nil, nil
			}
			cx, err := source.OpenContext(v, nil)
			if err != nil {
				return cache.Input{}, nil, err
			}
			files, names, err := b.contextFiles(ctx, cx, op, local, r)
			cx.Close()
			if err != nil {
				return cache.Input{}, nil, err
			}
			in.Sources = append(in.Sources, "context "+name)
			in.Args = append(in.Args, names...)
			in.Files = cache.FilesDigest(files)
			return in, files, nil
		}
		id, err := b.imageID(ctx, name, log)
		if err != nil {
			return cache.Input{}, nil, err
		}
		in.Sources = append(in.Sources, "image "+name+" "+id)
		return in, nil, nil
	}
	if b.context == nil {
		return in, nil, nil // copyStep reports the missing context
	}
	files, names, err := b.contextFiles(ctx, b.context, op, local, r)
	if err != nil {
		return cache.Input{}, nil, err
	}
	in.Args = append(in.Args, names...)
	in.Files = cache.FilesDigest(files)
	return in, files, nil
}

// contextFiles lists the entries of a context that the sources select, as
// the copier will walk them, with the digests of regular files. names
// records, for each selected symlink, the name its copy takes, which the
// listing (by resolved path) does not show: "--name=PATH=NAME".
func (b *builder) contextFiles(ctx context.Context, cx *source.Context, op string, srcs []string, r copyRequest) (files []cache.File, names []string, err error) {
	var hostPaths []string
	var hostInfos []fs.FileInfo // the walk's lstat, so the hasher need not stat again
	var fileIdx []int
	var chmod fs.FileMode
	hasChmod := r.chmod != ""
	if hasChmod {
		m, err := parseChmod(r.chmod)
		if err != nil {
			return nil, nil, err
		}
		chmod = m
	}
	exclude, err := excludeMatcher(op, r.exclude)
	if err != nil {
		return nil, nil, err
	}
	var visit func(p, rel string, fi fs.FileInfo) error
	visit = func(p, rel string, fi fs.FileInfo) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		f := cache.File{Path: p, Mode: uint32(fi.Mode().Type() | toOSMode(fi.Mode()))}
		if hasChmod && fi.Mode()&fs.ModeSymlink == 0 {
			f.Mode = uint32(fi.Mode().Type() | chmod)
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			t, err := cx.Readlink(p)
			if err != nil {
				return fmt.Errorf("%s %q: %w", op, p, err)
			}
			f.Link = t
		case fi.Mode().IsRegular():
			hp, err := cx.HostFile(p)
			if err != nil {
				return fmt.Errorf("%s %q: %w", op, p, err)
			}
			hostPaths = append(hostPaths, hp)
			hostInfos = append(hostInfos, fi)
			fileIdx = append(fileIdx, len(files))
		}
		files = append(files, f)
		if !fi.IsDir() {
			return nil
		}
		ents, err := cx.ReadDir(p)
		if err != nil {
			return fmt.Errorf("reading %q: %w", p, err)
		}
		for _, e := range ents {
			cp, cr := path.Join(p, e.Name()), path.Join(rel, e.Name())
			if exclude != nil {
				if m, err := exclude.MatchesOrParentMatches(cr); err == nil && m {
					continue
				}
			}
			// The listing has stat'ed the entry already.
			cfi, err := e.Info()
			if err != nil {
				return fmt.Errorf("%s %q: %w", op, cp, err)
			}
			if err := visit(cp, cr, cfi); err != nil {
				return err
			}
		}
		return nil
	}
	var matches []sourceMatch
	for _, src := range srcs {
		ms, err := resolveSource(cx, r, src)
		if err != nil {
			return nil, nil, err
		}
		matches = append(matches, ms...)
	}
	for _, m := range matches {
		if path.Base(m.name) != path.Base(m.path) {
			names = append(names, "--name="+m.path+"="+path.Base(m.name))
		}
		fi, err := cx.Lstat(m.path)
		if err != nil {
			return nil, nil, fmt.Errorf("%s %q: %w", op, m.path, err)
		}
		if err := visit(m.path, "", fi); err != nil {
			return nil, nil, err
		}
	}
	sums, err := b.hasher.DigestsOf(ctx, hostPaths, hostInfos)
	if err != nil {
		return nil, nil, err
	}
	for i, j := range fileIdx {
		files[j].Digest = sums[i]
	}
	return files, names, nil
}

// imageID identifies the image a name refers to by its manifest digest.
func (b *builder) imageID(ctx context.Context, name string, log io.Writer) (string, error) {
	img, err := b.namedImage(ctx, name, b.opts.Platform, log)
	if err != nil {
		return "", err
	}
	desc, _, err := img.Manifest(ctx)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", name, err)
	}
	return desc.Digest.String(), nil
}

// usedArgs lists the stage's set ARGs the step refers to, NAME=value, so
// that a cache miss can name the build arg that changed.
func usedArgs(ss *stageState, step *parser.Step) []string {
	refs := step.VarRefs()
	var out []string
	for _, a := range ss.args {
		if a.set && slices.Contains(refs, a.name) {
			out = append(out, a.name+"="+a.value)
		}
	}
	return out
}
