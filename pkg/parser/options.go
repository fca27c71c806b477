package parser

import (
	"maps"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/internal/platforms"
)

// defaultFilename names the Dockerfile in locations when Options.Filename is empty.
const defaultFilename = "Dockerfile"

// Options controls how a Dockerfile is turned into a Graph.
type Options struct {
	// Filename is used in locations and errors; "Dockerfile" when empty.
	Filename string
	// BuildArgs holds the --build-arg values.
	BuildArgs map[string]string
	// Target names the stage to build; the last stage when empty.
	Target string
	// TargetPlatform is the platform the image is built for; the running
	// platform when zero.
	TargetPlatform ocispec.Platform
	// BuildPlatform is the platform the build runs on; the running platform
	// when zero.
	BuildPlatform ocispec.Platform
	// Ignore holds the build context's .dockerignore patterns, for the
	// CopyIgnoredFile check; none skips it.
	Ignore []string
	// CheckAllStages runs the checks BuildKit runs while dispatching steps
	// on every stage rather than only on those the target needs, as
	// `docker build --check` does without --target.
	CheckAllStages bool
}

// withDefaults returns a copy of o with empty fields filled in. BuildArgs is
// copied so later changes by the caller do not leak into the graph.
func (o Options) withDefaults() Options {
	if o.Filename == "" {
		o.Filename = defaultFilename
	}
	o.BuildArgs = maps.Clone(o.BuildArgs)
	if o.BuildArgs == nil {
		o.BuildArgs = map[string]string{}
	}
	o.TargetPlatform = platformOrHost(o.TargetPlatform)
	o.BuildPlatform = platformOrHost(o.BuildPlatform)
	return o
}

func platformOrHost(p ocispec.Platform) ocispec.Platform {
	if p.OS == "" && p.Architecture == "" {
		return platforms.Default()
	}
	return p
}
