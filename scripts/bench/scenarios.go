package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The scenarios, in the order each round runs them.

// group is a set of scenarios that share the tools' state within a round.
type group struct {
	// chained groups build each scenario on the state the one before it
	// left, so a scenario selected alone still needs those before it run.
	chained bool
	// setup readies both tools' state before the group's first scenario;
	// it is not timed.
	setup       func(ctx context.Context, round int) error
	needsDebian bool
	scenarios   []*scenario
}

// scenario is one timed build per tool and round.
type scenario struct {
	name string
	desc string
	// cold scenarios start from empty state for both tools.
	cold bool
	// builderOnly scenarios are not built with buildah; their ratio is
	// the builder's time of pairedWith over their own, by round.
	builderOnly bool
	pairedWith  string
	target      float64
	// absTarget, when set, also bounds the builder's median.
	absTarget time.Duration
	// prepare writes what the round's build reads.
	prepare func(round int) (buildSpec, error)
}

func (h *harness) roundNonce(round int) string { return fmt.Sprintf("%s-r%d", h.nonce, round) }

// dockerfile writes a Dockerfile under the work directory, outside every
// build context, so that its text (which names the registry's port) is
// part of no context.
func (h *harness) dockerfile(name, text string) (string, error) {
	p := h.path("dockerfiles", name+".Dockerfile")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", fmt.Errorf("creating Dockerfile directory: %w", err)
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		return "", fmt.Errorf("writing %s: %w", p, err)
	}
	return p, nil
}

// spec writes a Dockerfile and pairs it with a context directory.
func (h *harness) spec(name, text, context string) (buildSpec, error) {
	df, err := h.dockerfile(name, text)
	return buildSpec{dockerfile: df, context: context}, err
}

// from is a FROM line naming image in the benchmark's registry.
func (h *harness) from(image string) string { return "FROM " + h.reg.host + "/" + image + ":latest" }

// scenarios defines the benchmark, in the order each round runs it.
func (h *harness) scenarios() []*group {
	return []*group{h.smallGroup(), h.copyGroup(), h.run100kGroup(), h.debianGroup(), h.gzipGroup(), h.goServiceGroup(), h.aptGroup()}
}

// aptGroup installs packages with apt from Debian's mirror through cache
// mounts (examples/apt-cache): from empty state, then again with the step
// forced to run, which finds the lists and packages in its caches.
func (h *harness) aptGroup() *group {
	spec := func(args ...string) func(int) (buildSpec, error) {
		return func(int) (buildSpec, error) {
			text, err := os.ReadFile(filepath.Join("examples", "apt-cache", "Dockerfile"))
			if err != nil {
				return buildSpec{}, err
			}
			df := strings.Replace(string(text), "FROM debian", h.from("debian"), 1)
			s, err := h.spec("apt-cache", df, h.path("contexts", "empty"))
			s.args = args
			return s, err
		}
	}
	return &group{chained: true, needsDebian: true, scenarios: []*scenario{
		{name: "apt-cache-cold", cold: true, target: 1.0, prepare: spec(),
			desc: "examples/apt-cache: FROM debian, apt-get update and install of jq and file with /var/cache/apt and /var/lib/apt as locked cache mounts; empty state (the mirror is Debian's, over the network)"},
		{name: "apt-cache-again", target: 1.0, prepare: spec("--no-cache"),
			desc: "apt-cache again with --no-cache: the install runs, the lists and packages come from the cache mounts"},
	}}
}

// goServiceGroup compiles examples/go-service with the host's Go toolchain
// bound from a named context and cache mounts for the Go caches: from
// empty state, then again after one source file changed, which reuses the
// build cache.
func (h *harness) goServiceGroup() *group {
	ctxDir := h.path("contexts", "go-service")
	spec := func(r int) (buildSpec, error) {
		if err := writeGoService(ctxDir, h.roundNonce(r)); err != nil {
			return buildSpec{}, err
		}
		text, err := os.ReadFile(filepath.Join("examples", "go-service", "Dockerfile"))
		if err != nil {
			return buildSpec{}, err
		}
		// buildah 1.28 takes absolute mount targets only; BuildKit (and
		// the builder) join relative ones to WORKDIR /src.
		df := strings.NewReplacer("FROM busybox AS build", h.from("busybox")+" AS build",
			"target=go.mod", "target=/src/go.mod", "target=go.sum", "target=/src/go.sum", "target=.", "target=/src").Replace(string(text))
		s, err := h.spec("go-service", df, ctxDir)
		s.args = []string{"--build-context", "go=" + goRoot()}
		return s, err
	}
	return &group{chained: true, scenarios: []*scenario{
		{name: "go-service-cold", cold: true, target: 1.0,
			desc: "examples/go-service (Go toolchain bound from a named context, cache mounts for modules and the build cache, FROM scratch final stage); empty state",
			prepare: func(r int) (buildSpec, error) {
				if err := os.RemoveAll(ctxDir); err != nil {
					return buildSpec{}, err
				}
				return spec(r)
			}},
		{name: "go-service-onefile", target: 1.0,
			desc: "go-service again on its state after one source file changed: the compile step reuses the Go build cache",
			prepare: func(r int) (buildSpec, error) {
				if err := writeGoService(ctxDir, h.roundNonce(r)+"-changed"); err != nil {
					return buildSpec{}, err
				}
				return spec(r)
			}},
	}}
}

// smallGroup is a small build, from empty state and then again.
func (h *harness) smallGroup() *group {
	smallCtx := h.path("contexts", "small")
	small := func(int) (buildSpec, error) {
		return h.spec("small", h.from("busybox")+`
COPY a.txt b.txt /app/
COPY conf/ /app/conf/
RUN echo "built on $(uname -m)" > /app/built && ls -R /app > /app/listing
CMD ["cat", "/app/built"]
`, smallCtx)
	}
	return &group{chained: true, scenarios: []*scenario{
		{name: "small-cold", cold: true, target: 0.30, prepare: small,
			desc: "FROM busybox (loopback registry), COPY three small files, RUN a short shell command writing files, CMD; empty state"},
		{name: "small-warm", target: 0.35, absTarget: 100 * time.Millisecond, prepare: small,
			desc: "small-cold again on its state, nothing changed"},
	}}
}

// copyGroup copies a large tree: from empty state, again unchanged, and
// again after one file changed.
func (h *harness) copyGroup() *group {
	copyCtx := h.path("fixtures", "copy20k")
	copyTree := func(int) (buildSpec, error) {
		return h.spec("copy20k", h.from("busybox")+"\nCOPY . /data\n", copyCtx)
	}
	return &group{chained: true, scenarios: []*scenario{
		{name: "copy20k-cold", cold: true, target: 0.40,
			desc: fmt.Sprintf("FROM busybox, COPY . /data of %d files, %d MiB (nested directories, a few bytes to a few MB, text and random bytes); empty state", copyTreeFiles, copyTreeBytes>>20),
			prepare: func(r int) (buildSpec, error) {
				if err := writeOnefile(copyCtx, ""); err != nil {
					return buildSpec{}, err
				}
				return copyTree(r)
			}},
		{name: "copy20k-warm", target: 0.15, prepare: copyTree,
			desc: "copy20k-cold again on its state, nothing changed"},
		{name: "copy20k-onefile", target: 0.50,
			desc: "copy20k again on its state after one small file's content changed",
			prepare: func(r int) (buildSpec, error) {
				if err := writeOnefile(copyCtx, h.roundNonce(r)); err != nil {
					return buildSpec{}, err
				}
				return copyTree(r)
			}},
	}}
}

// run100kGroup is RUN steps writing many files and one big one.
func (h *harness) run100kGroup() *group {
	emptyCtx := h.path("contexts", "empty")
	return &group{scenarios: []*scenario{
		{name: "run100k", cold: true, target: 0.20,
			desc: fmt.Sprintf("FROM busybox, RUN creating %d files (seq | xargs touch in %d directories), RUN writing a 1 GiB file (head -c from /dev/zero, so it compresses to almost nothing); empty state", run100kDirs*run100kPerDir, run100kDirs),
			prepare: func(int) (buildSpec, error) {
				return h.spec("run100k", h.from("busybox")+fmt.Sprintf(
					"\nRUN for d in $(seq 1 %d); do mkdir -p /files/$d && cd /files/$d && seq 1 %d | xargs touch; done\n"+
						"RUN head -c %d /dev/zero > /big.bin\n", run100kDirs, run100kPerDir, run100kBigBytes), emptyCtx)
			}},
	}}
}

// debianGroup is short RUN steps on bases already pulled.
func (h *harness) debianGroup() *group {
	emptyCtx := h.path("contexts", "empty")
	return &group{needsDebian: true, setup: h.warmBases, scenarios: []*scenario{
		{name: "debian-run", target: 0.25,
			desc: "FROM debian (bookworm minbase, already pulled by a setup build), one new RUN writing one file (text unique to the round)",
			prepare: func(r int) (buildSpec, error) {
				return h.spec("debian-run", h.from("debian")+"\nRUN echo "+h.roundNonce(r)+" > /x\n", emptyCtx)
			}},
		{name: "debian-run-busybox", builderOnly: true, pairedWith: "debian-run", target: 1.2,
			desc: "debian-run's step on the busybox base (already pulled), builder only; ratio = builder's debian-run / this",
			prepare: func(r int) (buildSpec, error) {
				return h.spec("debian-run-busybox", h.from("busybox")+"\nRUN echo "+h.roundNonce(r)+" > /x\n", emptyCtx)
			}},
		{name: "two-stages", target: 0.45, absTarget: 2300 * time.Millisecond,
			desc: "two independent stages each RUN sleep 2 (unique to the round), a final stage COPY --from each; busybox already pulled",
			prepare: func(r int) (buildSpec, error) {
				n := h.roundNonce(r)
				return h.spec("two-stages", h.from("busybox")+" AS one\nRUN sleep 2 && echo "+n+"-one > /one\n"+
					h.from("busybox")+" AS two\nRUN sleep 2 && echo "+n+"-two > /two\n"+
					h.from("busybox")+"\nCOPY --from=one /one /one\nCOPY --from=two /two /two\n", emptyCtx)
			}},
	}}
}

// gzipGroup copies one big compressible file.
func (h *harness) gzipGroup() *group {
	bigCtx := h.path("fixtures", "gzip1g")
	return &group{scenarios: []*scenario{
		{name: "gzip1g", cold: true, target: 0.30,
			desc: "FROM busybox, COPY of one 1 GiB text file (lines of words with numbers; gzip makes it about 40%), gzip output; empty state",
			prepare: func(int) (buildSpec, error) {
				return h.spec("gzip1g", h.from("busybox")+"\nCOPY big.txt /data/big.txt\n", bigCtx)
			}},
	}}
}

// warmBases empties both tools' state and pulls the Debian and busybox
// bases into it with a setup build each, so the group's scenarios find
// their base already there.
func (h *harness) warmBases(ctx context.Context, round int) error {
	if err := h.resetAll(ctx); err != nil {
		return err
	}
	emptyCtx := h.path("contexts", "empty")
	for _, base := range []string{"debian", "busybox"} {
		spec, err := h.spec("setup-"+base, h.from(base)+"\nRUN echo setup > /setup\n", emptyCtx)
		if err != nil {
			return err
		}
		for _, t := range h.order(round) {
			if _, err := h.build(ctx, t, "setup-"+base, spec, round); err != nil {
				return err
			}
		}
	}
	return nil
}
