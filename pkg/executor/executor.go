package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ocibuilder/builder/internal/cache"
	"github.com/ocibuilder/builder/internal/cgroup"
	"github.com/ocibuilder/builder/internal/gitsource"
	"github.com/ocibuilder/builder/internal/platforms"
	"github.com/ocibuilder/builder/internal/snapshot"
	"github.com/ocibuilder/builder/internal/source"
	"github.com/ocibuilder/builder/internal/sshforward"
	"github.com/ocibuilder/builder/pkg/executor/sandbox"
	"github.com/ocibuilder/builder/pkg/layer"
	"github.com/ocibuilder/builder/pkg/oci"
	"github.com/ocibuilder/builder/pkg/parser"
	"github.com/ocibuilder/builder/pkg/statedir"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Options configures Build. Zero values are documented per field.
type Options struct {
	// State is the open state directory (statedir.Open, shared) that
	// holds the blob store and extracted layers. Build uses its store and
	// leaves it open; a Resolver must store the images it finds in that
	// same store (State.Store()).
	State *statedir.State
	// Root is the state directory Build opens for itself, shared, when
	// State is nil; one of the two is required.
	Root string
	// Context is the build context directory; "" means the build has no
	// context and COPY/ADD from it fail.
	Context string
	// Ignore holds the .dockerignore patterns of the context (see
	// ReadIgnoreFile).
	Ignore []string
	// NamedContexts maps names used in FROM and COPY --from to build
	// contexts: "oci-layout:///abs/path[:tag|@digest]" or a local directory.
	NamedContexts map[string]string
	// Platform is the target platform; zero means the host's.
	Platform ocispec.Platform
	// SourceDateEpoch, when set, clamps layer mtimes and sets the config's
	// and history's timestamps, for reproducible images.
	SourceDateEpoch *time.Time
	// Compression of new layers; the zero value is gzip at default level.
	Compression layer.EncodeOptions
	// Labels are added to the final image's config (--label).
	Labels map[string]string
	// HTTPClient fetches ADD URLs; nil means http.DefaultClient.
	HTTPClient *http.Client
	// GitEnv is the environment git sees when ADD fetches a git
	// repository, of which only PATH, SSH_AUTH_SOCK, GIT_SSH_COMMAND and
	// the proxy variables are passed on; nil means os.Environ().
	GitEnv []string
	// Progress receives events; nil discards them.
	Progress Progress
	// Network is the network of RUN steps without --network; the zero
	// value is the host's network.
	Network NetworkMode
	// Snapshotter selects how RUN steps get a writable root; the zero
	// value picks overlayfs when it can be mounted.
	Snapshotter Snapshotter
	// Resolver finds images named in FROM and COPY --from that are
	// neither stages nor named contexts (registry references); nil means
	// such names are errors.
	Resolver Resolver
	// Limits bound the memory, CPU time and processes of each RUN step,
	// which runs in a cgroup of its own; the zero value limits nothing.
	// Where cgroups cannot be used the steps run without limits, and the
	// progress output of the first RUN step says why.
	Limits Limits
	// Secrets are the build secrets by id, for RUN
	// --mount=type=secret. A step sees a secret only while it runs, as a
	// read-only file on a tmpfs or as an environment variable; it never
	// reaches a layer, the config or the history.
	Secrets map[string][]byte
	// MaxArchiveSize bounds the uncompressed size of each local archive
	// ADD extracts, so that a compression bomb fails its step instead of
	// filling the disk; 0 means DefaultMaxArchiveSize and a negative
	// value means no limit.
	MaxArchiveSize int64
	// MaxLayerSize bounds the uncompressed size of each base-image layer
	// when it is extracted; 0 means DefaultMaxLayerSize and a negative
	// value means no limit.
	MaxLayerSize int64
	// NoCache runs every step even when the step cache holds its result;
	// results are still recorded.
	NoCache bool
	// NoCacheFilter names stages (by name or index) whose steps run even
	// when cached, as NoCache does for all.
	NoCacheFilter []string
	// Jobs bounds how many stages run at once; 0 means the number of
	// CPUs.
	Jobs int
	// SSH are the SSH agents RUN --mount=type=ssh steps may use, by id
	// (buildx's --ssh): one agent socket, or private key files an agent
	// in the builder serves. The keys never enter a step's sandbox.
	SSH map[string][]string
	// Allow grants what a Dockerfile may only ask for with the builder's
	// consent (buildx's --allow).
	Allow []Entitlement
}

// DefaultMaxArchiveSize is the uncompressed size limit of an ADD archive
// when Options.MaxArchiveSize is zero: generous for source tarballs and
// release bundles, small enough that a bomb cannot fill a CI runner's disk.
const DefaultMaxArchiveSize = 1 << 30

// DefaultMaxLayerSize is the uncompressed size limit of a base-image layer
// when Options.MaxLayerSize is zero: larger than the layers of common
// toolchain and CUDA images.
const DefaultMaxLayerSize = 16 << 30

// applyLimit turns an Options size field into layer.ApplyOptions.MaxSize.
func applyLimit(v, def int64) int64 {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// Resolver finds an image by reference for the given platform and returns
// it with its blobs in the build's store (Options.State's). Progress (downloads)
// goes to log.
type Resolver interface {
	Resolve(ctx context.Context, ref string, platform ocispec.Platform, log io.Writer) (*oci.Image, error)
}

// Build runs the stages the graph's target needs and returns the target
// stage's image, whose blobs are in the store of the state directory. The
// program must have called sandbox.Init first in main; if it did not, Build
// does nothing and its error wraps sandbox.ErrNoInit.
func Build(ctx context.Context, g *parser.Graph, o Options) (_ *oci.Image, err error) {
	if g == nil || g.Target == nil {
		return nil, errors.New("build: empty graph")
	}
	// Checked for every build, not at the first RUN step: a step can come
	// from a base image's ONBUILD, and failing after other steps ran would
	// hide the fix behind a half-done build.
	if err := sandbox.Initialized(); err != nil {
		return nil, err
	}
	if o.Progress == nil {
		o.Progress = nopProgress{}
	}
	if o.Platform.OS == "" {
		o.Platform = platforms.Default()
	}
	agents, err := sshAgents(o.SSH)
	if err != nil {
		return nil, err
	}
	st, err := openState(ctx, o.State, o.Root)
	if err != nil {
		return nil, err
	}
	defer st.close()
	b := &builder{opts: o, graph: g, state: st, ssh: agents, git: gitsource.New(o.GitEnv)}
	defer b.reaped.Wait()
	if b.cache, err = cache.Open(st.dir.CacheDir()); err != nil {
		return nil, err
	}
	if b.hasher, err = source.OpenFileHasher(st.dir.FileStatsPath(), o.Jobs); err != nil {
		return nil, err
	}
	defer func() {
		if cerr := b.hasher.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("saving the file digest cache: %w", cerr)
		}
	}()
	defer func() {
		if cerr := b.closeCgroups(ctx); err == nil && cerr != nil {
			err = cerr
		}
	}()
	if o.Context != "" {
		if b.context, err = source.OpenContext(o.Context, o.Ignore); err != nil {
			return nil, err
		}
		defer b.context.Close()
	}
	final, err := b.runStages(ctx)
	if err != nil {
		return nil, err
	}
	img := final.image(st.store)
	if len(o.Labels) > 0 {
		if img.Config.Config.Labels == nil {
			img.Config.Config.Labels = map[string]string{}
		}
		for k, v := range o.Labels {
			img.Config.Config.Labels[k] = v
		}
	}
	return img, nil
}

// builder is the state of one Build call.
type builder struct {
	opts    Options
	graph   *parser.Graph
	state   *state
	context *source.Context
	// stages holds the result of every stage the target needs, set
	// once when the stage finishes.
	stages map[*parser.Stage]*stageFuture
	// jobs holds a token per running stage; see Options.Jobs.
	jobs   chan struct{}
	nextID atomic.Int64
	cache  *cache.Cache
	hasher *source.FileHasher
	ssh    map[string]*sshforward.Agent
	git    *gitsource.Git

	snapOnce   sync.Once
	snap       snapshot.Snapshotter
	snapWhy    error // why overlayfs is not used, for the progress output
	snapWarned atomic.Bool
	snapErr    error

	// reaped counts the sandboxes' helper processes (a step's private
	// network) still exiting; Build waits for them before it returns.
	reaped sync.WaitGroup

	cgOnce   sync.Once
	cgroups  *cgroup.Manager // nil when steps run without limits
	cgLimits cgroup.Limits   // the part of Options.Limits enforced
	cgWhy    error           // why (some) limits are not enforced
	cgDevWhy error           // why device access is not confined by cgroups
	cgWarned atomic.Bool
}

// created is the timestamp of new config and history entries.
func (b *builder) created() time.Time {
	if b.opts.SourceDateEpoch != nil {
		return b.opts.SourceDateEpoch.UTC()
	}
	return time.Now().UTC()
}
