package executor

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/ocibuilder/builder/internal/snapshot"
	"github.com/ocibuilder/builder/pkg/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// stageState is a stage as its steps build it up: the image so far, the
// variables the next steps see, the step-cache key of its filesystem and
// the layers still being written. Once the stage is done, other stages
// read it concurrently.
type stageState struct {
	stageImage
	stageVars
	keyChain
	asyncLayers
}

// stageImage is the stage's image so far: its config and its layers, each
// with a diff ID (in cfg.RootFS.DiffIDs) and an extracted directory. It
// grows through appendLayer only, so that the three lists stay in step.
type stageImage struct {
	cfg    dockerspec.DockerOCIImage
	layers []ocispec.Descriptor
	// mu guards dirs, which stack fills in while other stages may read
	// a finished stage.
	mu sync.Mutex
	// dirs[i] is the extracted directory of layers[i]; "" until a step
	// needs the filesystem.
	dirs []string
}

// appendLayer puts a layer on top of the image and returns its index. dir
// is its directory, or "" to extract it when a step needs it; a layer
// still being written has a zero desc and diffID until setLayer.
func (im *stageImage) appendLayer(desc ocispec.Descriptor, diffID digest.Digest, dir string) int {
	im.layers = append(im.layers, desc)
	im.cfg.RootFS.DiffIDs = append(im.cfg.RootFS.DiffIDs, diffID)
	im.mu.Lock()
	defer im.mu.Unlock()
	im.dirs = append(im.dirs, dir)
	return len(im.layers) - 1
}

// setLayer completes layer i once it is written.
func (im *stageImage) setLayer(i int, desc ocispec.Descriptor, diffID digest.Digest, dir string) {
	im.layers[i], im.cfg.RootFS.DiffIDs[i] = desc, diffID
	im.mu.Lock()
	defer im.mu.Unlock()
	im.dirs[i] = dir
}

// stageVars is what the stage's instructions read besides the config.
type stageVars struct {
	// args are the ARGs declared in the stage so far, in order, starting
	// with those of the stage it is built on.
	args   []stageArg
	cmdSet bool // CMD given in this stage: ENTRYPOINT then keeps it
	// triggers are the base image's ONBUILD instructions, run before the
	// stage's own steps.
	triggers []string
	// envIdx finds ENV entries by name; see envPos.
	envIdx envIndex
}

// keyChain is the step-cache key of the stage's filesystem so far: the
// last layer step's key, or the base's identity (keyIsBase), which base
// names for cache-miss explanations.
type keyChain struct {
	key       digest.Digest
	keyIsBase bool
	base      string
}

// asyncLayers are the stage's layers still being written, and the step
// results to record once they are; see settle.
type asyncLayers struct {
	pending []*pendingLayer
	records []queuedRecord
}

// imageStage is a stage starting from img, none of whose layers is
// extracted yet.
func imageStage(img *oci.Image) *stageState {
	return &stageState{stageImage: stageImage{cfg: img.Config, layers: img.Layers, dirs: make([]string, len(img.Layers))}}
}

// stageArg is an ARG of the stage: set is false for one declared without
// a value that no build arg gave one.
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
	c := &stageState{stageImage: stageImage{layers: slices.Clone(s.layers), dirs: dirs},
		stageVars: stageVars{args: slices.Clone(s.args)}, keyChain: s.keyChain}
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
