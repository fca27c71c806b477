package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ocibuilder/builder/internal/buildah"
)

// The harness: one benchmark run, its rounds, and the timed builds.

// harness holds one benchmark run: its directories, registry, tools and
// the times measured.
type harness struct {
	opt     options
	nonce   string // unique to this run, part of every uncacheable step
	reg     *registry
	builder *builderTool
	buildah *buildahTool
	// other is the tool the builder is compared with: buildah, or the
	// baseline builder.
	other   tool
	groups  []*group
	times   map[string]*timings
	machine []string // "- key: value" lines
	started time.Time
	// loadStart and loadEnd are /proc/loadavg's first three fields: other
	// work on the machine shows in them.
	loadStart, loadEnd string
}

// timings are one scenario's durations by round (index round-1); a
// builder-only scenario has no buildah times.
type timings struct {
	builder []time.Duration
	buildah []time.Duration
}

// newHarness sets up a run's tools and scenarios; it touches no files.
func newHarness(opt options) *harness {
	h := &harness{
		opt:     opt,
		nonce:   strings.ToLower(rand.Text()[:10]),
		times:   map[string]*timings{},
		started: time.Now(),
	}
	state := filepath.Join(opt.work, "state")
	// Temporary files (buildah's go to /var/tmp otherwise) stay in the
	// work directory, on its file system.
	env := []string{"TMPDIR=" + filepath.Join(state, "tmp")}
	h.builder = &builderTool{bin: opt.builder, root: filepath.Join(state, "builder"), env: env}
	h.buildah = &buildahTool{Tool: buildah.Tool{
		Bin:     opt.buildah,
		Root:    filepath.Join(state, "buildah", "root"),
		Runroot: filepath.Join(state, "buildah", "runroot"),
		Driver:  opt.driver,
		Env:     env,
	}, tmp: filepath.Join(state, "tmp")}
	h.other = h.buildah
	if opt.baseline != "" {
		h.other = &builderTool{label: "baseline", bin: opt.baseline, root: filepath.Join(state, "baseline"), env: env}
	}
	h.groups = h.scenarios()
	return h
}

// path is a path under the work directory.
func (h *harness) path(elem ...string) string {
	return filepath.Join(append([]string{h.opt.work}, elem...)...)
}

// logf prints a progress line to standard error.
func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}

// order is the tools in the order a round runs them: the builder first in
// odd rounds, buildah first in even ones.
func (h *harness) order(round int) []tool {
	if round%2 == 1 {
		return []tool{h.builder, h.other}
	}
	return []tool{h.other, h.builder}
}

// resetAll empties both tools' state.
func (h *harness) resetAll(ctx context.Context) error {
	for _, t := range []tool{h.builder, h.other} {
		if err := t.reset(ctx); err != nil {
			return fmt.Errorf("resetting %s state: %w", t.name(), err)
		}
	}
	return nil
}

// selected reports whether -run selects s.
func (h *harness) selected(s *scenario) bool { return h.opt.run.MatchString(s.name) }

// last returns the index of g's last selected scenario, or -1.
func (h *harness) last(g *group) int {
	last := -1
	for i, s := range g.scenarios {
		if h.selected(s) {
			last = i
		}
	}
	return last
}

// needs is what the selected scenarios need beyond the small context.
type needs struct {
	debian, copyTree, bigText bool
}

// active returns the groups with a selected scenario, and what they need.
func (h *harness) active() ([]*group, needs) {
	var active []*group
	var n needs
	for _, g := range h.groups {
		if h.last(g) < 0 {
			continue
		}
		active = append(active, g)
		n.debian = n.debian || g.needsDebian
		for _, s := range g.scenarios {
			n.copyTree = n.copyTree || strings.HasPrefix(s.name, "copy20k")
			n.bigText = n.bigText || s.name == "gzip1g"
		}
	}
	return active, n
}

// run runs every round of the selected scenarios and writes the results.
func (h *harness) run(ctx context.Context) (err error) {
	active, need := h.active()
	if len(active) == 0 {
		return fmt.Errorf("-run %q selects no scenario", h.opt.run)
	}
	if err := h.prepareWork(); err != nil {
		return err
	}
	defer func() {
		if cerr := h.cleanup(ctx); cerr != nil && err == nil {
			err = cerr
		}
	}()
	h.loadStart = loadavg()

	if err := h.prepareInputs(ctx, need); err != nil {
		return err
	}
	reg, err := h.startRegistry(ctx, need.debian)
	if err != nil {
		return err
	}
	defer reg.stop()
	h.reg = reg

	for round := 1; round <= h.opt.rounds; round++ {
		for _, g := range active {
			if err := h.runGroup(ctx, g, round); err != nil {
				return err
			}
		}
	}

	h.loadEnd = loadavg()
	return h.writeResults()
}

// prepareWork creates the work directory's layout and empties the tools'
// state.
func (h *harness) prepareWork() error {
	for _, d := range []string{h.opt.work, h.path("logs"), h.path("contexts", "empty"), h.path("fixtures")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", d, err)
		}
	}
	// The generated contexts hold files named *.go that are not Go: a
	// go.mod of their own keeps them out of the project's ./... patterns.
	if err := os.WriteFile(h.path("go.mod"), []byte("module benchwork\n"), 0o644); err != nil {
		return fmt.Errorf("creating %s: %w", h.path("go.mod"), err)
	}
	// A run that was killed may have left state, and mounts in it.
	if err := removeTree(h.path("state")); err != nil {
		return err
	}
	if err := os.MkdirAll(h.path("state", "tmp"), 0o700); err != nil {
		return fmt.Errorf("creating temporary directory: %w", err)
	}
	return nil
}

// cleanup removes both tools' state, and the mounts in it, even when ctx
// was cancelled.
func (h *harness) cleanup(ctx context.Context) error {
	var err error
	for _, t := range []tool{h.builder, h.other} {
		if rerr := t.remove(context.WithoutCancel(ctx)); rerr != nil && err == nil {
			err = fmt.Errorf("removing %s state: %w", t.name(), rerr)
		}
	}
	if rerr := removeTree(h.path("state")); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

// prepareInputs records the machine, asks buildah what it can do, and
// makes the contexts the selected scenarios read.
func (h *harness) prepareInputs(ctx context.Context, need needs) error {
	if err := h.describeMachine(ctx); err != nil {
		return err
	}
	if h.opt.baseline == "" {
		if err := h.buildahPushFlags(ctx); err != nil {
			return err
		}
	}
	if err := writeSmallContext(h.path("contexts", "small")); err != nil {
		return err
	}
	if need.copyTree {
		spec := fmt.Sprintf("copy20k v2 seed=%d files=%d bytes=%d", copyTreeSeed, copyTreeFiles, copyTreeBytes)
		if err := h.ensureFixture("copy20k", spec, genCopyTree); err != nil {
			return err
		}
	}
	if need.bigText {
		spec := fmt.Sprintf("gzip1g v1 seed=%d bytes=%d", bigTextSeed, bigTextBytes)
		if err := h.ensureFixture("gzip1g", spec, genBigText); err != nil {
			return err
		}
	}
	return nil
}

// writeResults prints the table and writes the results file.
func (h *harness) writeResults() error {
	report := h.report()
	fmt.Print(h.table() + "\n" + h.notes())
	if err := os.MkdirAll(filepath.Dir(h.opt.results), 0o755); err != nil {
		return fmt.Errorf("creating results directory: %w", err)
	}
	if err := os.WriteFile(h.opt.results, []byte(report), 0o644); err != nil {
		return fmt.Errorf("writing results: %w", err)
	}
	h.logf("wrote %s", h.opt.results)
	return nil
}

// runGroup runs one round of g: its setup, then each scenario up to the
// last selected one (all of them in a chained group), with both tools.
func (h *harness) runGroup(ctx context.Context, g *group, round int) error {
	if g.setup != nil {
		if err := g.setup(ctx, round); err != nil {
			return fmt.Errorf("round %d: setup: %w", round, err)
		}
	}
	for _, s := range g.scenarios[:h.last(g)+1] {
		sel := h.selected(s)
		if !sel && !g.chained {
			continue
		}
		if s.cold {
			if err := h.resetAll(ctx); err != nil {
				return err
			}
		}
		spec, err := s.prepare(round)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		for _, t := range h.order(round) {
			if s.builderOnly && t.name() != "builder" {
				continue
			}
			d, err := h.build(ctx, t, s.name, spec, round)
			if err != nil {
				return err
			}
			if sel {
				h.record(s.name, t.name(), d)
			}
		}
	}
	return nil
}

// record adds a build's time to its scenario's timings.
func (h *harness) record(scen, toolName string, d time.Duration) {
	tm := h.times[scen]
	if tm == nil {
		tm = &timings{}
		h.times[scen] = tm
	}
	if toolName == "builder" {
		tm.builder = append(tm.builder, d)
	} else {
		tm.buildah = append(tm.buildah, d)
	}
}

// build runs one timed build and checks its output; a failed build or an
// invalid output ends the benchmark with the tail of the build's log.
func (h *harness) build(ctx context.Context, t tool, scen string, spec buildSpec, round int) (time.Duration, error) {
	out := h.path("out", t.name(), scen)
	if err := os.RemoveAll(out); err != nil {
		return 0, fmt.Errorf("removing old output: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return 0, fmt.Errorf("creating output directory: %w", err)
	}
	// Dirty pages of the build before (or of fixture generation) would be
	// written back during this one and charge it for them. Writing them
	// out first keeps the page cache as it is.
	unix.Sync()
	logPath := h.path("logs", fmt.Sprintf("r%d-%s-%s.log", round, scen, t.name()))
	log, err := os.Create(logPath)
	if err != nil {
		return 0, fmt.Errorf("creating build log: %w", err)
	}
	d, err := t.build(ctx, spec, scen, out, log)
	if cerr := log.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("writing build log: %w", cerr)
	}
	if ctx.Err() != nil {
		return 0, fmt.Errorf("round %d, %s, %s: interrupted: %w", round, scen, t.name(), ctx.Err())
	}
	if err != nil {
		return 0, fmt.Errorf("round %d, %s, %s: build failed: %w\n--- %s (end) ---\n%s", round, scen, t.name(), err, logPath, tail(logPath, 40))
	}
	if err := validateLayout(ctx, out); err != nil {
		return 0, fmt.Errorf("round %d, %s, %s: invalid output %s: %w", round, scen, t.name(), out, err)
	}
	h.logf("round %d/%d  %-20s %-8s %9s", round, h.opt.rounds, scen, t.name(), fmtDur(d))
	return d, nil
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
