package executor

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ocibuilder/builder/internal/platforms"
	"github.com/ocibuilder/builder/pkg/oci"
	"github.com/ocibuilder/builder/pkg/parser"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

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
	ss := imageStage(img)
	ss.keyChain = keyChain{key: desc.Digest, keyIsBase: true, base: s.From.Image + "@" + desc.Digest.String()}
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

// defaultPath is the PATH docker gives images that set none.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
