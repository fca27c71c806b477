package executor

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/ocibuilder/builder/internal/cache"
	"github.com/ocibuilder/builder/internal/platforms"
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
