package executor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/ocibuilder/builder/pkg/executor/snapshot"
	"github.com/ocibuilder/builder/pkg/oci"
	"github.com/ocibuilder/builder/pkg/parser"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// defaultPath is the PATH docker gives images that set none.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// stageState is a stage's image as its steps build it up.
type stageState struct {
	cfg    dockerspec.DockerOCIImage
	layers []ocispec.Descriptor
	// dirs[i] is the extracted directory of layers[i]; "" until a step
	// needs the filesystem.
	dirs []string
	// args are the ARGs declared in the stage so far, in order.
	args   []stageArg
	cmdSet bool // CMD given in this stage: ENTRYPOINT then keeps it
	// triggers are the base image's ONBUILD instructions, run before the
	// stage's own steps.
	triggers []string
	// envIdx finds ENV entries by name; see envPos.
	envIdx envIndex
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
	c := &stageState{layers: slices.Clone(s.layers), dirs: slices.Clone(s.dirs)}
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
		ss.cfg.Architecture = platform.Architecture
		ss.cfg.Variant = platform.Variant
		ss.cfg.RootFS.Type = "layers"
		ss.cfg.Config.Env = []string{defaultPath}
		return ss, nil
	case s.From.Stage != nil:
		base, ok := b.done[s.From.Stage]
		if !ok {
			return nil, fmt.Errorf("stage %s was not built", stageLabel(s.From.Stage))
		}
		ss, err := base.clone()
		if err != nil {
			return nil, err
		}
		ss.triggers, ss.cfg.Config.OnBuild = ss.cfg.Config.OnBuild, nil
		return ss, nil
	}
	img, err := b.namedImage(ctx, s.From.Image, platform, log)
	if err != nil {
		return nil, err
	}
	ss := &stageState{cfg: img.Config, layers: img.Layers, dirs: make([]string, len(img.Layers))}
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
			if img.Store != b.state.store && img.Store != nil && img.Store.Root() != b.state.store.Root() {
				return nil, fmt.Errorf("image %s: the resolver stored it outside the build's state directory", name)
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
