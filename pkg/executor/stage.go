package executor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/ocibuilder/builder/internal/platforms"
	"github.com/ocibuilder/builder/internal/snapshot"
	"github.com/ocibuilder/builder/pkg/oci"
	"github.com/ocibuilder/builder/pkg/parser"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
)

// defaultPath is the PATH docker gives images that set none.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// stageState is a stage's image as its steps build it up. Once the stage
// is done, other stages read it concurrently; mu guards the lazily filled
// dirs.
type stageState struct {
	mu     sync.Mutex
	cfg    dockerspec.DockerOCIImage
	layers []ocispec.Descriptor
	// dirs[i] is the extracted directory of layers[i]; "" until a step
	// needs the filesystem.
	dirs []string
	// args are the ARGs declared in the stage so far, in order, starting
	// with those of the stage it is built on.
	args   []stageArg
	cmdSet bool // CMD given in this stage: ENTRYPOINT then keeps it
	// triggers are the base image's ONBUILD instructions, run before the
	// stage's own steps.
	triggers []string
	// envIdx finds ENV entries by name; see envPos.
	envIdx envIndex
	// key is the step-cache key of the stage's filesystem so far: the
	// last layer step's key, or the base's identity (keyIsBase), which
	// base names for cache-miss explanations.
	key       digest.Digest
	keyIsBase bool
	base      string
	// pending are layers still being written, and records the step
	// results to store once they are; see settle.
	pending []*pendingLayer
	records []queuedRecord
}

type stageArg struct {
	name  string
	value string
	set   bool
}

// clone returns a deep copy, so a stage used as a base by several others
// is not changed by them.
func (s *stageState) clone() (*stageState, error) {
	raw, err := json.Marshal(s.cfg)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	dirs := slices.Clone(s.dirs)
	s.mu.Unlock()
	// A stage built FROM another starts with its ARGs and their values,
	// as in BuildKit (moby/buildkit#5381).
	c := &stageState{layers: slices.Clone(s.layers), dirs: dirs, args: slices.Clone(s.args),
		key: s.key, keyIsBase: s.keyIsBase, base: s.base}
	if err := json.Unmarshal(raw, &c.cfg); err != nil {
		return nil, err
	}
	return c, nil
}

func (s *stageState) image(store *oci.Store) *oci.Image {
	return &oci.Image{Config: s.cfg, Layers: slices.Clone(s.layers), Store: store}
}

// env returns the variables visible to word expansion: the image's ENV
// over the stage's ARGs.
func (s *stageState) env() []string {
	var out []string
	seen := map[string]bool{}
	for _, kv := range s.cfg.Config.Env {
		k, _, _ := strings.Cut(kv, "=")
		seen[k] = true
		out = append(out, kv)
	}
	for _, a := range s.args {
		if a.set && !seen[a.name] {
			out = append(out, a.name+"="+a.value)
		}
	}
	return out
}

func (s *stageState) setEnv(key, value string) {
	if i, ok := s.envPos(key); ok {
		s.cfg.Config.Env[i] = key + "=" + value
		return
	}
	s.cfg.Config.Env = append(s.cfg.Config.Env, key+"="+value)
}

// resolveBase sets a stage up from its FROM: scratch, an earlier stage, or
// a named build context holding an OCI layout.
func (b *builder) resolveBase(ctx context.Context, s *parser.Stage, log io.Writer) (*stageState, error) {
	platform := b.opts.Platform
	if s.Platform != "" {
		p, err := ParsePlatform(s.Platform)
		if err != nil {
			return nil, fmt.Errorf("FROM --platform=%s: %w", s.Platform, err)
		}
		platform = p
	}
	switch {
	case s.From.Scratch:
		ss := &stageState{}
		ss.cfg.Created = ptrTime(b.created())
		ss.cfg.OS = platform.OS
		ss.cfg.OSVersion = platform.OSVersion
		ss.cfg.Architecture = platform.Architecture
		ss.cfg.Variant = platform.Variant
		ss.cfg.RootFS.Type = "layers"
		// BuildKit's empty image (dockerfile2llb's emptyImage) has "/"
		// as working directory and docker's default PATH.
		ss.cfg.Config.WorkingDir = "/"
		ss.cfg.Config.Env = []string{defaultPath}
		ss.base = "scratch"
		ss.key, ss.keyIsBase = digest.FromString("scratch "+platforms.Format(platform)), true
		return ss, nil
	case s.From.Stage != nil:
		base, err := b.stageResult(ctx, s.From.Stage)
		if err != nil {
			return nil, err
		}
		ss, err := base.clone()
		if err != nil {
			return nil, err
		}
		ss.triggers, ss.cfg.Config.OnBuild = ss.cfg.Config.OnBuild, nil
		// The base stage by what it holds; see copyInput.
		ss.key = digest.FromString("stage " + chainOf(ss.cfg.RootFS.DiffIDs).String())
		ss.keyIsBase, ss.base = true, "stage "+stageLabel(s.From.Stage)
		return ss, nil
	}
	img, err := b.namedImage(ctx, s.From.Image, platform, log)
	if err != nil {
		return nil, err
	}
	desc, _, err := img.Manifest(ctx)
	if err != nil {
		return nil, fmt.Errorf("base image %s: %w", s.From.Image, err)
	}
	ss := &stageState{cfg: img.Config, layers: img.Layers, dirs: make([]string, len(img.Layers)),
		key: desc.Digest, keyIsBase: true, base: s.From.Image + "@" + desc.Digest.String()}
	if ss.cfg.RootFS.Type == "" {
		ss.cfg.RootFS.Type = "layers"
	}
	if !slices.ContainsFunc(ss.cfg.Config.Env, func(kv string) bool { return strings.HasPrefix(kv, "PATH=") }) {
		ss.cfg.Config.Env = append(ss.cfg.Config.Env, defaultPath)
	}
	// Triggers run in the child's stage and are not inherited further.
	ss.triggers, ss.cfg.Config.OnBuild = ss.cfg.Config.OnBuild, nil
	return ss, nil
}

// namedContext looks name up among the build contexts given by the caller.
func (b *builder) namedContext(name string) (string, bool) {
	if v, ok := b.opts.NamedContexts[name]; ok {
		return v, true
	}
	v, ok := b.opts.NamedContexts[strings.ToLower(name)]
	return v, ok
}

// namedImage loads the image a name refers to: a named build context of
// type oci-layout, else what the Resolver finds (a registry image).
func (b *builder) namedImage(ctx context.Context, name string, platform ocispec.Platform, log io.Writer) (*oci.Image, error) {
	v, ok := b.namedContext(name)
	if !ok {
		if b.opts.Resolver != nil {
			img, err := b.opts.Resolver.Resolve(ctx, name, platform, log)
			if err != nil {
				return nil, err
			}
			if img.Store != nil && img.Store != b.state.store {
				return nil, fmt.Errorf("image %s: the resolver stored it outside the build's store (Options.State)", name)
			}
			return img, nil
		}
		return nil, fmt.Errorf("base image %q: no build context of that name and no registry access configured; "+
			"give it as --build-context %s=oci-layout:///path/to/layout", name, name)
	}
	dir, ref, isLayout, err := parseOCILayoutContext(v)
	if err != nil {
		return nil, fmt.Errorf("build context %s: %w", name, err)
	}
	if !isLayout {
		return nil, fmt.Errorf("build context %s=%s: a local directory cannot be a base image; use oci-layout://", name, v)
	}
	img, err := oci.ReadLayout(ctx, dir, ref, platform, b.state.store)
	if err != nil {
		return nil, fmt.Errorf("build context %s: %w", name, err)
	}
	return img, nil
}

// parseOCILayoutContext splits "oci-layout:///abs/path[:tag|@digest]".
func parseOCILayoutContext(v string) (dir, ref string, isLayout bool, err error) {
	rest, ok := strings.CutPrefix(v, "oci-layout://")
	if !ok {
		if strings.Contains(v, "://") {
			scheme, _, _ := strings.Cut(v, "://")
			return "", "", false, fmt.Errorf("unsupported build context type %q", scheme)
		}
		return v, "", false, nil
	}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		dir, ref = rest[:i], rest[i+1:]
	} else if i := strings.LastIndex(rest, ":"); i > strings.LastIndex(rest, "/") {
		dir, ref = rest[:i], rest[i+1:]
	} else {
		dir = rest
	}
	if !filepath.IsAbs(dir) {
		return "", "", true, fmt.Errorf("oci-layout path %q must be absolute", dir)
	}
	return dir, ref, true, nil
}

// stack returns the stage's layers as a union view, extracting those that
// are not on disk yet.
func (b *builder) stack(ctx context.Context, ss *stageState) (*snapshot.Stack, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for i, d := range ss.dirs {
		if d != "" {
			continue
		}
		if i >= len(ss.cfg.RootFS.DiffIDs) {
			return nil, fmt.Errorf("image config lists %d diff IDs for %d layers", len(ss.cfg.RootFS.DiffIDs), len(ss.layers))
		}
		dir, err := b.state.extract(ctx, ss.layers[i], ss.cfg.RootFS.DiffIDs[i], applyLimit(b.opts.MaxLayerSize, DefaultMaxLayerSize))
		if err != nil {
			return nil, err
		}
		ss.dirs[i] = dir
	}
	return snapshot.NewStack(ss.dirs...), nil
}

// ParsePlatform parses "os/arch[/variant]" as --platform takes it.
func ParsePlatform(s string) (ocispec.Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return ocispec.Platform{}, fmt.Errorf("platform %q: want os/arch[/variant]", s)
	}
	p := ocispec.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

// stageFuture is the result of a stage, available once done is closed.
type stageFuture struct {
	done chan struct{}
	ss   *stageState
	err  error
}

// runStages runs the stages the target needs, each in its own goroutine
// as soon as a job token is free, and returns the target's state. A stage
// that needs another one's result waits for it without holding a token.
// The first failure cancels the others.
func (b *builder) runStages(ctx context.Context) (*stageState, error) {
	needed := b.graph.Needed()
	b.stages = make(map[*parser.Stage]*stageFuture, len(needed))
	for _, s := range needed {
		b.stages[s] = &stageFuture{done: make(chan struct{})}
	}
	jobs := b.opts.Jobs
	if jobs <= 0 {
		jobs = runtime.NumCPU()
	}
	b.jobs = make(chan struct{}, jobs)
	// first is the error of the stage that failed first. It is set before
	// that stage's done channel closes: a stage reading the result only
	// fails after it, with "stage x failed", which errgroup could
	// otherwise report in its place.
	var mu sync.Mutex
	var first error
	fail := func(err error) error {
		mu.Lock()
		defer mu.Unlock()
		if first == nil {
			first = err
		}
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	for _, s := range needed {
		f := b.stages[s]
		g.Go(func() error {
			defer close(f.done)
			select {
			case b.jobs <- struct{}{}:
			case <-ctx.Done():
				f.err = ctx.Err()
				return fail(f.err)
			}
			defer func() { <-b.jobs }()
			f.ss, f.err = b.runStage(ctx, s)
			if f.err != nil {
				return fail(f.err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		mu.Lock()
		defer mu.Unlock()
		if first != nil {
			return nil, first
		}
		return nil, err
	}
	return b.stages[b.graph.Target].ss, nil
}

// stageResult returns the finished state of a stage another stage reads,
// waiting for it if needed. The caller holds a job token, which it gives
// back while it waits, so that the stage it waits for can run.
func (b *builder) stageResult(ctx context.Context, s *parser.Stage) (*stageState, error) {
	f, ok := b.stages[s]
	if !ok {
		return nil, fmt.Errorf("stage %s is not part of this build", stageLabel(s))
	}
	select {
	case <-f.done:
	default:
		<-b.jobs
		done := true
		select {
		case <-f.done:
		case <-ctx.Done():
			done = false
		}
		select {
		case b.jobs <- struct{}{}:
		case <-ctx.Done():
			// The token is owed: take it back once one is free,
			// so that the deferred release stays balanced.
			b.jobs <- struct{}{}
		}
		if !done {
			// The stage is still running: its result must not be
			// read until done is closed.
			return nil, ctx.Err()
		}
	}
	if f.err != nil {
		return nil, fmt.Errorf("stage %s failed", stageLabel(s))
	}
	if f.ss == nil {
		return nil, ctx.Err()
	}
	return f.ss, nil
}
