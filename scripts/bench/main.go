// Command bench times a set of build scenarios with this project's builder
// and with buildah, side by side, and reports per scenario the median wall
// time of each tool and the median of the per-round ratios (builder /
// buildah, paired by round) next to a target.
//
// Both tools pull their bases from a docker-registry it starts on loopback,
// keep their state in directories of their own under the work directory,
// and write an OCI image layout directory with gzip layers, which is
// checked after every build. Run it as root (both tools need it for RUN):
//
//	go run ./scripts/bench -rounds 5 -run 'small|copy20k'
//
// With -baseline BIN, a second builder binary (one built from an earlier
// commit) takes buildah's place, so a change is measured before and after
// on the same scenarios, rounds alternating.
//
// Page caches are never dropped: both tools read the same warm files.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/ocibuilder/builder/internal/buildah"
	"github.com/ocibuilder/builder/internal/registryserver"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

// options are the command line's settings, with every path absolute.
type options struct {
	rounds  int
	run     *regexp.Regexp
	work    string
	builder string
	buildah string
	busybox string
	debian  string
	driver  string
	results string
	// baseline, when set, is another builder binary measured in
	// buildah's place: the same scenarios, before and after a change.
	baseline string
}

func parseFlags(args []string) (options, error) {
	var o options
	var runExpr string
	f := flag.NewFlagSet("bench", flag.ContinueOnError)
	f.IntVar(&o.rounds, "rounds", 5, "rounds per scenario (each tool builds once per round)")
	f.StringVar(&runExpr, "run", "", "regular expression selecting scenarios by name (default: all)")
	f.StringVar(&o.work, "work", "build/bench", "work directory: fixtures, tool state, outputs, logs, results")
	f.StringVar(&o.builder, "builder", "bin/builder", "this project's builder binary")
	f.StringVar(&o.buildah, "buildah", "buildah", "buildah binary")
	f.StringVar(&o.busybox, "busybox", "build/busybox", "busybox base image (OCI layout directory, tag latest)")
	f.StringVar(&o.debian, "debian", "build/debian", "Debian base image (OCI layout directory, tag latest)")
	f.StringVar(&o.driver, "buildah-storage-driver", "overlay", "buildah's storage driver")
	f.StringVar(&o.results, "results", "", "markdown results file (default WORK/results.md)")
	f.StringVar(&o.baseline, "baseline", "", "another builder binary to compare with instead of buildah (e.g. one built from an earlier commit)")
	if err := f.Parse(args); err != nil {
		return o, err
	}
	if f.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", f.Args())
	}
	if o.rounds < 1 {
		return o, fmt.Errorf("-rounds %d: need at least 1", o.rounds)
	}
	re, err := regexp.Compile(runExpr)
	if err != nil {
		return o, fmt.Errorf("-run: %w", err)
	}
	o.run = re
	if o.results == "" {
		o.results = filepath.Join(o.work, "results.md")
	}
	if o.baseline != "" {
		if o.baseline, err = filepath.Abs(o.baseline); err != nil {
			return o, fmt.Errorf("resolving baseline path: %w", err)
		}
		o.buildah = o.baseline
	}
	for _, p := range []*string{&o.work, &o.builder, &o.busybox, &o.debian, &o.results} {
		if *p, err = filepath.Abs(*p); err != nil {
			return o, fmt.Errorf("resolving %s: %w", *p, err)
		}
	}
	if strings.ContainsRune(o.buildah, '/') {
		if o.buildah, err = filepath.Abs(o.buildah); err != nil {
			return o, fmt.Errorf("resolving buildah path: %w", err)
		}
	}
	return o, nil
}

func run(args []string) error {
	opt, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("run as root: both tools need it for RUN steps and overlay mounts")
	}
	for _, bin := range []string{opt.builder, opt.buildah, "skopeo", registryserver.DefaultBinary} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s is missing (scripts/bench-deps.sh installs the tools, make build the builder): %w", bin, err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	return newHarness(opt).run(ctx)
}

// Fixed inputs of the generated contexts; changing any regenerates them.
const (
	copyTreeSeed  = 20_000
	copyTreeFiles = 20_000
	copyTreeBytes = 400 << 20
	// copyTreeTiny files are up to 16 KiB, the next ones up to 128 KiB,
	// and copyTreeLarge files of up to a few MB take what those leave of
	// copyTreeBytes.
	copyTreeTiny  = 17_800
	copyTreeLarge = 200
	// onefilePath is the file copy20k-onefile rewrites.
	onefilePath     = "app/config/settings.txt"
	bigTextSeed     = 1 << 30
	bigTextBytes    = 1 << 30
	run100kDirs     = 4
	run100kPerDir   = 25_000
	run100kBigBytes = 1 << 30
)

// fixtureEpoch (2024-01-01 UTC) is the modification time of every
// generated file, so that a regenerated context is the same one.
const fixtureEpoch = 1_704_067_200

// setFixtureTime gives p the fixtures' modification time.
func setFixtureTime(p string) error {
	t := time.Unix(fixtureEpoch, 0)
	return os.Chtimes(p, t, t)
}

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
	}}
	h.other = h.buildah
	if opt.baseline != "" {
		h.other = &builderTool{label: "baseline", bin: opt.baseline, root: filepath.Join(state, "baseline"), env: env}
	}
	h.groups = h.scenarios()
	return h
}

func (h *harness) path(elem ...string) string {
	return filepath.Join(append([]string{h.opt.work}, elem...)...)
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}

// tool is one of the two builders under test.
type tool interface {
	name() string
	// reset leaves the tool with empty state.
	reset(ctx context.Context) error
	// remove deletes the tool's state, leaving no mounts behind.
	remove(ctx context.Context) error
	// build builds spec into an OCI layout directory at out and returns
	// the wall time it took; its output goes to log.
	build(ctx context.Context, spec buildSpec, tag, out string, log *os.File) (time.Duration, error)
}

// buildSpec is what one build reads.
type buildSpec struct {
	dockerfile string
	context    string
}

// builderTool is this project's builder.
type builderTool struct {
	// label names it in results; "" is "builder".
	label string
	bin   string
	root  string
	env   []string
}

func (t *builderTool) name() string {
	if t.label == "" {
		return "builder"
	}
	return t.label
}

func (t *builderTool) reset(ctx context.Context) error {
	if err := t.remove(ctx); err != nil {
		return err
	}
	return os.MkdirAll(t.root, 0o700)
}

func (t *builderTool) remove(context.Context) error { return removeTree(t.root) }

func (t *builderTool) build(ctx context.Context, spec buildSpec, tag, out string, log *os.File) (time.Duration, error) {
	start := time.Now()
	err := runTo(ctx, log, t.env, t.bin, "build", "--root", t.root, "--progress", "plain",
		"-f", spec.dockerfile, "-t", "bench:"+tag,
		"-o", "type=oci,dest="+out+",tar=false", "--compression", "gzip", spec.context)
	return time.Since(start), err
}

// buildahTool is buildah with state of its own, chroot isolation and its
// layer cache on.
type buildahTool struct {
	buildah.Tool
	// pushFlags ask push for gzip layers, where this version can be asked.
	pushFlags []string
}

func (t *buildahTool) name() string { return "buildah" }

func (t *buildahTool) budFlags() []string {
	return []string{"bud", "--isolation", "chroot", "--layers", "--tls-verify=false"}
}

func (t *buildahTool) reset(ctx context.Context) error {
	if err := t.remove(ctx); err != nil {
		return err
	}
	for _, d := range []string{t.Root, t.Runroot} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("creating buildah state: %w", err)
		}
	}
	return nil
}

// remove lets buildah drop its containers and images first, which
// unmounts what it mounted, and then unmounts whatever is left.
func (t *buildahTool) remove(ctx context.Context) error {
	if _, err := os.Stat(t.Root); err == nil {
		if err := t.Clear(ctx); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	if err := removeTree(t.Root); err != nil {
		return err
	}
	return removeTree(t.Runroot)
}

func (t *buildahTool) build(ctx context.Context, spec buildSpec, tag, out string, log *os.File) (time.Duration, error) {
	image := "bench:" + tag
	bud := t.Args(append(t.budFlags(), "-f", spec.dockerfile, "-t", image, spec.context)...)
	push := t.Args(append(append([]string{"push"}, t.pushFlags...), image, "oci:"+out+":latest")...)
	start := time.Now()
	if err := runTo(ctx, log, t.Env, t.Bin, bud...); err != nil {
		return time.Since(start), err
	}
	err := runTo(ctx, log, t.Env, t.Bin, push...)
	return time.Since(start), err
}

// runTo runs a command with its output going to w and env added to the
// environment. The command gets a process group of its own, killed as a
// whole when ctx ends.
func runTo(ctx context.Context, w io.Writer, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = w, w
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

// output runs a command and returns its standard output.
func output(ctx context.Context, name string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

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

func (h *harness) spec(name, text, context string) (buildSpec, error) {
	df, err := h.dockerfile(name, text)
	return buildSpec{dockerfile: df, context: context}, err
}

// from is a FROM line naming image in the benchmark's registry.
func (h *harness) from(image string) string { return "FROM " + h.reg.host + "/" + image + ":latest" }

// scenarios defines the benchmark, in the order each round runs it.
func (h *harness) scenarios() []*group {
	smallCtx := h.path("contexts", "small")
	emptyCtx := h.path("contexts", "empty")
	copyCtx := h.path("fixtures", "copy20k")
	bigCtx := h.path("fixtures", "gzip1g")
	small := func(int) (buildSpec, error) {
		return h.spec("small", h.from("busybox")+`
COPY a.txt b.txt /app/
COPY conf/ /app/conf/
RUN echo "built on $(uname -m)" > /app/built && ls -R /app > /app/listing
CMD ["cat", "/app/built"]
`, smallCtx)
	}
	copyTree := func(int) (buildSpec, error) {
		return h.spec("copy20k", h.from("busybox")+"\nCOPY . /data\n", copyCtx)
	}
	return []*group{
		{chained: true, scenarios: []*scenario{
			{name: "small-cold", cold: true, target: 0.30, prepare: small,
				desc: "FROM busybox (loopback registry), COPY three small files, RUN a short shell command writing files, CMD; empty state"},
			{name: "small-warm", target: 0.35, absTarget: 100 * time.Millisecond, prepare: small,
				desc: "small-cold again on its state, nothing changed"},
		}},
		{chained: true, scenarios: []*scenario{
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
		}},
		{scenarios: []*scenario{
			{name: "run100k", cold: true, target: 0.20,
				desc: fmt.Sprintf("FROM busybox, RUN creating %d files (seq | xargs touch in %d directories), RUN writing a 1 GiB file (head -c from /dev/zero, so it compresses to almost nothing); empty state", run100kDirs*run100kPerDir, run100kDirs),
				prepare: func(int) (buildSpec, error) {
					return h.spec("run100k", h.from("busybox")+fmt.Sprintf(
						"\nRUN for d in $(seq 1 %d); do mkdir -p /files/$d && cd /files/$d && seq 1 %d | xargs touch; done\n"+
							"RUN head -c %d /dev/zero > /big.bin\n", run100kDirs, run100kPerDir, run100kBigBytes), emptyCtx)
				}},
		}},
		{needsDebian: true, setup: h.warmBases, scenarios: []*scenario{
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
		}},
		{scenarios: []*scenario{
			{name: "gzip1g", cold: true, target: 0.30,
				desc: "FROM busybox, COPY of one 1 GiB text file (lines of words with numbers; gzip makes it about 40%), gzip output; empty state",
				prepare: func(int) (buildSpec, error) {
					return h.spec("gzip1g", h.from("busybox")+"\nCOPY big.txt /data/big.txt\n", bigCtx)
				}},
		}},
	}
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

// order is the tools in the order a round runs them: the builder first in
// odd rounds, buildah first in even ones.
func (h *harness) order(round int) []tool {
	if round%2 == 1 {
		return []tool{h.builder, h.other}
	}
	return []tool{h.other, h.builder}
}

func (h *harness) resetAll(ctx context.Context) error {
	for _, t := range []tool{h.builder, h.other} {
		if err := t.reset(ctx); err != nil {
			return fmt.Errorf("resetting %s state: %w", t.name(), err)
		}
	}
	return nil
}

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

func (h *harness) run(ctx context.Context) (err error) {
	var active []*group
	needsDebian, needsCopy, needsBig := false, false, false
	for _, g := range h.groups {
		if h.last(g) < 0 {
			continue
		}
		active = append(active, g)
		needsDebian = needsDebian || g.needsDebian
		for _, s := range g.scenarios {
			needsCopy = needsCopy || strings.HasPrefix(s.name, "copy20k")
			needsBig = needsBig || s.name == "gzip1g"
		}
	}
	if len(active) == 0 {
		return fmt.Errorf("-run %q selects no scenario", h.opt.run)
	}
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
	defer func() {
		for _, t := range []tool{h.builder, h.other} {
			// Cleanup must run even when ctx was cancelled.
			if rerr := t.remove(context.WithoutCancel(ctx)); rerr != nil && err == nil {
				err = fmt.Errorf("removing %s state: %w", t.name(), rerr)
			}
		}
		if rerr := removeTree(h.path("state")); rerr != nil && err == nil {
			err = rerr
		}
	}()
	h.loadStart = loadavg()

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
	if needsCopy {
		spec := fmt.Sprintf("copy20k v2 seed=%d files=%d bytes=%d", copyTreeSeed, copyTreeFiles, copyTreeBytes)
		if err := h.ensureFixture("copy20k", spec, genCopyTree); err != nil {
			return err
		}
	}
	if needsBig {
		spec := fmt.Sprintf("gzip1g v1 seed=%d bytes=%d", bigTextSeed, bigTextBytes)
		if err := h.ensureFixture("gzip1g", spec, genBigText); err != nil {
			return err
		}
	}

	reg, err := startRegistry(ctx, h.path("registry"))
	if err != nil {
		return err
	}
	defer reg.stop()
	h.reg = reg
	bases := map[string]string{"busybox": h.opt.busybox}
	if needsDebian {
		bases["debian"] = h.opt.debian
	}
	for name, dir := range bases {
		h.logf("registry %s: pushing %s", reg.host, dir)
		if _, err := output(ctx, "skopeo", "copy", "-q", "--dest-tls-verify=false",
			"oci:"+dir+":latest", "docker://"+reg.host+"/"+name+":latest"); err != nil {
			return fmt.Errorf("pushing base %s (make busybox-base, scripts/debian-base.sh): %w", name, err)
		}
	}

	for round := 1; round <= h.opt.rounds; round++ {
		for _, g := range active {
			if err := h.runGroup(ctx, g, round); err != nil {
				return err
			}
		}
	}

	h.loadEnd = loadavg()
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

// validateLayout checks that dir is an OCI image layout that skopeo reads,
// holding one image manifest whose config and gzip layers are all there
// with the sizes and digests it names.
func validateLayout(ctx context.Context, dir string) error {
	raw, err := output(ctx, "skopeo", "inspect", "--raw", "oci:"+dir)
	if err != nil {
		return err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return fmt.Errorf("parsing manifest: %w", err)
	}
	if m.MediaType != ocispec.MediaTypeImageManifest {
		return fmt.Errorf("manifest media type %q, want %q", m.MediaType, ocispec.MediaTypeImageManifest)
	}
	if len(m.Layers) == 0 {
		return errors.New("manifest has no layers")
	}
	cfg, err := readBlob(dir, m.Config)
	if err != nil {
		return err
	}
	var img ocispec.Image
	if err := json.Unmarshal(cfg, &img); err != nil {
		return fmt.Errorf("parsing config: %w", err)
	}
	if len(img.RootFS.DiffIDs) != len(m.Layers) {
		return fmt.Errorf("config lists %d diff IDs for %d layers", len(img.RootFS.DiffIDs), len(m.Layers))
	}
	for _, l := range m.Layers {
		if l.MediaType != ocispec.MediaTypeImageLayerGzip {
			return fmt.Errorf("layer %s has media type %q, want gzip", l.Digest, l.MediaType)
		}
		if err := verifyBlob(dir, l); err != nil {
			return err
		}
	}
	return nil
}

func blobPath(dir string, d ocispec.Descriptor) (string, error) {
	if err := d.Digest.Validate(); err != nil {
		return "", fmt.Errorf("descriptor digest: %w", err)
	}
	return filepath.Join(dir, "blobs", d.Digest.Algorithm().String(), d.Digest.Encoded()), nil
}

func readBlob(dir string, d ocispec.Descriptor) ([]byte, error) {
	p, err := blobPath(dir, d)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("reading blob: %w", err)
	}
	if int64(len(b)) != d.Size || digest.FromBytes(b) != d.Digest {
		return nil, fmt.Errorf("blob %s does not match its descriptor", d.Digest)
	}
	return b, nil
}

func verifyBlob(dir string, d ocispec.Descriptor) error {
	p, err := blobPath(dir, d)
	if err != nil {
		return err
	}
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("opening blob: %w", err)
	}
	defer f.Close()
	v := d.Digest.Verifier()
	n, err := io.Copy(v, f)
	if err != nil {
		return fmt.Errorf("reading blob %s: %w", d.Digest, err)
	}
	if n != d.Size || !v.Verified() {
		return fmt.Errorf("blob %s does not match its descriptor (%d bytes, descriptor says %d)", d.Digest, n, d.Size)
	}
	return nil
}

// buildahPushFlags asks buildah push for gzip layers when this version has
// --compression-format (an OCI layout destination gets gzip by default
// anyway).
func (h *harness) buildahPushFlags(ctx context.Context) error {
	help, err := output(ctx, h.buildah.Bin, "push", "--help")
	if err != nil {
		return err
	}
	if strings.Contains(help, "--compression-format") {
		h.buildah.pushFlags = []string{"--compression-format", "gzip"}
	}
	return nil
}

// registry is a docker-registry serving plain HTTP on a loopback port,
// its output going to registry.log beside its storage.
type registry struct {
	host string
	srv  *registryserver.Server
}

// startRegistry runs docker-registry with its storage under dir (emptied
// first) on a free loopback port, and returns once it answers.
func startRegistry(ctx context.Context, dir string) (*registry, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("removing old registry: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating registry directory: %w", err)
	}
	srv, err := registryserver.Start(ctx, registryserver.Options{Dir: dir, LogFile: filepath.Join(dir, "registry.log")})
	if err != nil {
		return nil, err
	}
	return &registry{host: srv.Host(), srv: srv}, nil
}

func (r *registry) stop() {
	r.srv.Stop()
}

// mountsUnder returns the mount points at or below dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	mounts, err := readMounts()
	if err != nil {
		return nil, err
	}
	var under []string
	for _, m := range mounts {
		if m.point == dir || strings.HasPrefix(m.point, dir+"/") {
			under = append(under, m.point)
		}
	}
	sort.Slice(under, func(i, j int) bool { return len(under[i]) > len(under[j]) })
	return under, nil
}

type mount struct{ point, fstype, source string }

// readMounts parses /proc/self/mountinfo.
func readMounts() ([]mount, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("reading mounts: %w", err)
	}
	var mounts []mount
	for line := range strings.Lines(string(b)) {
		// ID PARENT MAJ:MIN ROOT POINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if len(f) < 5 || sep < 0 || sep+2 >= len(f) {
			continue
		}
		mounts = append(mounts, mount{point: unescapeMount(f[4]), fstype: f[sep+1], source: unescapeMount(f[sep+2])})
	}
	return mounts, nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// removeTree unmounts everything mounted at or below dir, then removes
// it. It refuses to remove a tree that still has a mount in it: rm -rf
// must never reach into a mounted file system.
func removeTree(dir string) error {
	points, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	for _, p := range points {
		if err := unix.Unmount(p, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			// Busy: detach it; it goes once its last user does.
			if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
				return fmt.Errorf("unmounting %s: %w", p, err)
			}
		}
	}
	if left, err := mountsUnder(dir); err != nil {
		return err
	} else if len(left) > 0 {
		return fmt.Errorf("mounts remain under %s: %v", dir, left)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing %s: %w", dir, err)
	}
	return nil
}

// writeSmallContext writes the small scenario's context: three small files.
func writeSmallContext(dir string) error {
	files := map[string]string{
		"a.txt":         "hello from a\n",
		"b.txt":         strings.Repeat("b", 300) + "\n",
		"conf/app.json": `{"name": "bench", "port": 8080, "debug": false}` + "\n",
	}
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("writing small context: %w", err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			return fmt.Errorf("writing small context: %w", err)
		}
	}
	return nil
}

// ensureFixture makes the generated context fixtures/NAME unless a marker
// beside it says the same one (by spec) is there already.
func (h *harness) ensureFixture(name, spec string, gen func(dir string) error) error {
	dir := h.path("fixtures", name)
	marker := dir + ".done"
	if b, err := os.ReadFile(marker); err == nil && string(b) == spec {
		h.logf("fixture %s: kept (%s)", name, spec)
		return nil
	}
	h.logf("fixture %s: making it (%s)", name, spec)
	tmp := dir + ".partial"
	for _, p := range []string{marker, dir, tmp} {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("removing old fixture: %w", err)
		}
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return fmt.Errorf("creating fixture: %w", err)
	}
	if err := gen(tmp); err != nil {
		return fmt.Errorf("generating %s: %w", dir, err)
	}
	if err := setFixtureTime(tmp); err != nil {
		return fmt.Errorf("setting fixture time: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("moving fixture into place: %w", err)
	}
	if err := os.WriteFile(marker, []byte(spec), 0o644); err != nil {
		return fmt.Errorf("writing fixture marker: %w", err)
	}
	return nil
}

// textSource makes deterministic text: lines of words from a vocabulary of
// made-up words, with the odd number, which compresses like source code
// or prose.
type textSource struct {
	rng   *mrand.Rand
	vocab []string
}

func newTextSource(rng *mrand.Rand) *textSource {
	t := &textSource{rng: rng}
	const letters = "abcdefghijklmnopqrstuvwxyz"
	for range 2000 {
		w := make([]byte, 2+rng.IntN(9))
		for i := range w {
			w[i] = letters[rng.IntN(len(letters))]
		}
		t.vocab = append(t.vocab, string(w))
	}
	return t
}

// appendLine appends one line of 3 to 14 words.
func (t *textSource) appendLine(b []byte) []byte {
	n := 3 + t.rng.IntN(12)
	for i := range n {
		if i > 0 {
			b = append(b, ' ')
		}
		if t.rng.IntN(10) == 0 {
			b = strconv.AppendInt(b, int64(t.rng.IntN(100000)), 10)
		} else {
			b = append(b, t.vocab[t.rng.IntN(len(t.vocab))]...)
		}
	}
	return append(b, '\n')
}

// corpus returns n bytes of text.
func (t *textSource) corpus(n int) []byte {
	b := make([]byte, 0, n+200)
	for len(b) < n {
		b = t.appendLine(b)
	}
	return b[:n]
}

// genCopyTree writes the copy20k context: copyTreeFiles files totalling
// copyTreeBytes in nested directories. Sizes are log-uniform within three
// tiers: 4 bytes to 16 KiB, 16 to 128 KiB, and a few hundred KiB to a few
// MB. Each file is text or random bytes, at even odds.
func genCopyTree(dir string) error {
	rng := mrand.New(mrand.NewPCG(copyTreeSeed, 1))
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], copyTreeSeed)
	random := mrand.NewChaCha8(seed)
	text := newTextSource(rng)
	corpus := text.corpus(1 << 20)

	sizes := make([]int64, 0, copyTreeFiles)
	sizes = append(sizes, int64(len(onefileContent("")))) // onefilePath
	logUniform := func(lo, hi float64) int64 {
		return int64(math.Exp(math.Log(lo) + rng.Float64()*(math.Log(hi)-math.Log(lo))))
	}
	for range copyTreeTiny - 1 {
		sizes = append(sizes, logUniform(4, 16<<10))
	}
	for range copyTreeFiles - copyTreeTiny - copyTreeLarge {
		sizes = append(sizes, logUniform(16<<10, 128<<10))
	}
	var fixed int64
	for _, n := range sizes {
		fixed += n
	}
	weights := make([]float64, copyTreeLarge)
	var wsum float64
	for i := range weights {
		weights[i] = float64(logUniform(256<<10, 8<<20))
		wsum += weights[i]
	}
	rest := int64(copyTreeBytes) - fixed
	if rest < copyTreeLarge {
		return errors.New("small files take the whole budget")
	}
	var given int64
	for i, w := range weights {
		n := int64(float64(rest) * w / wsum)
		if i == len(weights)-1 {
			n = rest - given
		}
		sizes = append(sizes, n)
		given += n
	}
	// Spread the large files over the tree; the first file stays put.
	rng.Shuffle(copyTreeFiles-1, func(i, j int) { sizes[i+1], sizes[j+1] = sizes[j+1], sizes[i+1] })

	topDirs := []string{"app", "assets", "docs", "lib", "node_modules", "src", "test", "vendor"}
	textExt := []string{".txt", ".js", ".go", ".md", ".json", ".css"}
	binExt := []string{".bin", ".png", ".gz", ".woff2", ".so"}
	var dirs []string
	for i := range copyTreeFiles {
		var rel string
		isText := rng.IntN(2) == 0
		if i == 0 {
			rel, isText = onefilePath, true
		} else {
			ext := textExt[rng.IntN(len(textExt))]
			if !isText {
				ext = binExt[rng.IntN(len(binExt))]
			}
			rel = filepath.Join(topDirs[rng.IntN(len(topDirs))], fmt.Sprintf("m%02d", rng.IntN(16)))
			if rng.IntN(3) > 0 {
				rel = filepath.Join(rel, fmt.Sprintf("p%d", rng.IntN(8)))
				if rng.IntN(2) == 0 {
					rel = filepath.Join(rel, fmt.Sprintf("q%d", rng.IntN(4)))
				}
			}
			rel = filepath.Join(rel, fmt.Sprintf("f%05d%s", i, ext))
		}
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("creating directory: %w", err)
		}
		dirs = append(dirs, filepath.Dir(p))
		var src io.Reader = random
		switch {
		case i == 0:
			src = bytes.NewReader(onefileContent(""))
		case isText:
			src = &ringReader{buf: corpus, off: rng.IntN(len(corpus))}
		}
		if err := writeFileFrom(p, src, sizes[i]); err != nil {
			return err
		}
	}
	slices.Sort(dirs)
	for _, d := range slices.Compact(dirs) {
		for ; d != dir; d = filepath.Dir(d) {
			if err := setFixtureTime(d); err != nil {
				return fmt.Errorf("setting directory time: %w", err)
			}
		}
	}
	return nil
}

// onefileContent is the text of copy20k's onefilePath: a settings file
// that, with a nonce, has one line more.
func onefileContent(nonce string) []byte {
	var b bytes.Buffer
	for i := range 64 {
		fmt.Fprintf(&b, "setting_%02d = value %d\n", i, i*i)
	}
	if nonce != "" {
		fmt.Fprintf(&b, "revision = %s\n", nonce)
	}
	return b.Bytes()
}

// writeOnefile writes onefilePath under dir with onefileContent(nonce).
func writeOnefile(dir, nonce string) error {
	p := filepath.Join(dir, onefilePath)
	if err := os.WriteFile(p, onefileContent(nonce), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", onefilePath, err)
	}
	if nonce == "" {
		// The unchanged file is exactly the generated one, time included.
		if err := setFixtureTime(p); err != nil {
			return fmt.Errorf("setting %s time: %w", onefilePath, err)
		}
	}
	return nil
}

// ringReader reads buf from off onwards, wrapping around, forever.
type ringReader struct {
	buf []byte
	off int
}

func (r *ringReader) Read(p []byte) (int, error) {
	n := copy(p, r.buf[r.off:])
	r.off = (r.off + n) % len(r.buf)
	return n, nil
}

func writeFileFrom(p string, src io.Reader, size int64) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("creating %s: %w", p, err)
	}
	if _, err := io.CopyN(f, src, size); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if err := setFixtureTime(p); err != nil {
		return fmt.Errorf("setting time of %s: %w", p, err)
	}
	return nil
}

// genBigText writes gzip1g's context: big.txt, bigTextBytes of numbered
// lines picked from a few thousand distinct ones: repeated text with
// variation, about as compressible as logs.
func genBigText(dir string) error {
	rng := mrand.New(mrand.NewPCG(bigTextSeed, 2))
	text := newTextSource(rng)
	lines := make([][]byte, 4096)
	for i := range lines {
		lines[i] = text.appendLine(nil)
	}
	p := filepath.Join(dir, "big.txt")
	f, err := os.Create(p)
	if err != nil {
		return fmt.Errorf("creating %s: %w", p, err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var written int64
	buf := make([]byte, 0, 256)
	for n := 0; written < bigTextBytes; n++ {
		buf = strconv.AppendInt(buf[:0], int64(n), 10)
		buf = append(buf, ' ')
		buf = append(buf, lines[rng.IntN(len(lines))]...)
		if rest := bigTextBytes - written; int64(len(buf)) > rest {
			buf = buf[:rest]
		}
		if _, err := w.Write(buf); err != nil {
			f.Close()
			return fmt.Errorf("writing %s: %w", p, err)
		}
		written += int64(len(buf))
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	return setFixtureTime(p)
}

// loadavg returns the 1, 5 and 15 minute load averages.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// describeMachine records what the results depend on.
func (h *harness) describeMachine(ctx context.Context) error {
	add := func(k, v string) { h.machine = append(h.machine, fmt.Sprintf("- %s: %s", k, v)) }
	cpu := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	add("CPU", cpu)
	add("cores (logical CPUs)", strconv.Itoa(runtime.NumCPU()))
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				add("memory", fmt.Sprintf("%.1f GiB", kb/(1<<20)))
			}
		}
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		add("kernel", unix.ByteSliceToString(u.Release[:]))
	}
	if mounts, err := readMounts(); err == nil {
		var best mount
		for _, m := range mounts {
			if (h.opt.work == m.point || strings.HasPrefix(h.opt.work, strings.TrimSuffix(m.point, "/")+"/")) && len(m.point) >= len(best.point) {
				best = m
			}
		}
		add("work dir filesystem", fmt.Sprintf("%s (%s mounted at %s); work dir %s", best.fstype, best.source, best.point, h.opt.work))
	}
	if v, err := output(ctx, h.opt.builder, "version"); err == nil {
		desc := strings.TrimSpace(v)
		if c, err := output(ctx, "git", "-C", filepath.Dir(filepath.Dir(h.opt.builder)), "rev-parse", "--short", "HEAD"); err == nil {
			desc += ", source at commit " + strings.TrimSpace(c)
		}
		add("builder", desc)
	}
	if h.opt.baseline != "" {
		if v, err := output(ctx, h.opt.baseline, "version"); err == nil {
			add("baseline", strings.TrimSpace(v)+" ("+h.opt.baseline+")")
		}
		add("Go", runtime.Version())
		return nil
	}
	if v, err := output(ctx, h.buildah.Bin, "version"); err == nil {
		for line := range strings.Lines(v) {
			if k, val, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "Version" {
				add("buildah", strings.TrimSpace(val)+" ("+h.debVersion(ctx, "buildah")+")")
			}
		}
	}
	if err := h.buildah.reset(ctx); err != nil {
		return err
	}
	if info, err := output(ctx, h.buildah.Bin, h.buildah.Args("info")...); err == nil {
		var bi struct {
			Store struct {
				GraphDriverName string            `json:"GraphDriverName"`
				GraphStatus     map[string]string `json:"GraphStatus"`
			} `json:"store"`
		}
		if json.Unmarshal([]byte(info), &bi) == nil {
			add("buildah storage", fmt.Sprintf("%s (native overlay diff: %s, backing file system: %s)",
				bi.Store.GraphDriverName, bi.Store.GraphStatus["Native Overlay Diff"], bi.Store.GraphStatus["Backing Filesystem"]))
		}
	} else {
		return fmt.Errorf("buildah with storage driver %s: %w", h.buildah.Driver, err)
	}
	if v, err := output(ctx, "skopeo", "--version"); err == nil {
		add("skopeo", strings.TrimSpace(v))
	}
	add("Go", runtime.Version())
	return nil
}

func (h *harness) debVersion(ctx context.Context, pkg string) string {
	v, err := output(ctx, "dpkg-query", "-W", "-f", "${Version}", pkg)
	if err != nil || v == "" {
		return "not a Debian package"
	}
	return "Debian package " + v
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func seconds(ds []time.Duration) []float64 {
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = d.Seconds()
	}
	return xs
}

// ratios divides a by b round by round.
func ratios(a, b []time.Duration) []float64 {
	var xs []float64
	for i := range min(len(a), len(b)) {
		if b[i] > 0 {
			xs = append(xs, a[i].Seconds()/b[i].Seconds())
		}
	}
	return xs
}

func fmtDur(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func fmtSec(s float64) string {
	if math.IsNaN(s) {
		return "–"
	}
	return fmtDur(time.Duration(s * float64(time.Second)))
}

// row is one line of the results table.
type row struct {
	name, builder, buildah, ratio, target, met string
}

func (h *harness) rows() []row {
	var rows []row
	for _, g := range h.groups {
		for _, s := range g.scenarios {
			tm := h.times[s.name]
			if tm == nil {
				continue
			}
			r := row{name: s.name, builder: fmtSec(median(seconds(tm.builder))), buildah: "–"}
			var ratio float64
			if s.builderOnly {
				r.name = s.name + " (builder only: debian/busybox)"
				ratio = math.NaN()
				if other := h.times[s.pairedWith]; other != nil {
					ratio = median(ratios(other.builder, tm.builder))
				}
			} else {
				r.buildah = fmtSec(median(seconds(tm.buildah)))
				ratio = median(ratios(tm.builder, tm.buildah))
			}
			r.target = fmt.Sprintf("≤ %.2f", s.target)
			if s.absTarget > 0 {
				r.target += ", < " + fmtDur(s.absTarget)
			}
			met := !math.IsNaN(ratio) && ratio <= s.target
			if s.absTarget > 0 && median(seconds(tm.builder)) >= s.absTarget.Seconds() {
				met = false
			}
			r.ratio, r.met = "–", "no"
			if !math.IsNaN(ratio) {
				r.ratio = fmt.Sprintf("%.3f", ratio)
			}
			if met {
				r.met = "yes"
			}
			rows = append(rows, r)
		}
	}
	return rows
}

// table renders the results as a markdown table.
func (h *harness) table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "| scenario | builder median | %s median | ratio (median of paired ratios) | target | met? |\n", h.other.name())
	b.WriteString("| --- | ---: | ---: | ---: | --- | --- |\n")
	for _, r := range h.rows() {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", r.name, r.builder, r.buildah, r.ratio, r.target, r.met)
	}
	return b.String()
}

// notes says how buildah was run, under the table.
func (h *harness) notes() string {
	if h.opt.baseline != "" {
		return fmt.Sprintf("baseline is %s, run exactly as the builder; targets are buildah's and do not apply.\n", h.opt.baseline)
	}
	return fmt.Sprintf("buildah runs with --layers (its layer cache, which the warm scenarios use), --isolation chroot and storage driver %s; "+
		"it has a --jobs flag for building stages in parallel, left at its default (1). Its time is bud + push to the OCI layout.\n", h.buildah.Driver)
}

// report is the whole results file: machine, settings, table, scenarios
// and every round's times.
func (h *harness) report() string {
	var b strings.Builder
	sel := "all scenarios"
	if h.opt.run.String() != "" {
		sel = fmt.Sprintf("scenarios matching `%s`", h.opt.run)
	}
	fmt.Fprintf(&b, "# builder vs buildah\n\n%s, %d round(s), %s.\n\n", h.started.UTC().Format(time.RFC3339), h.opt.rounds, sel)
	b.WriteString("## Machine\n\n" + strings.Join(h.machine, "\n") + "\n\n")
	b.WriteString("## Results\n\n")
	b.WriteString("Ratio is this builder / buildah, the median of the per-round ratios (paired by round); " +
		"times are medians of wall time. A target with a time also bounds the builder's median.\n\n")
	b.WriteString(h.table())
	b.WriteString("\n" + h.notes())
	fmt.Fprintf(&b, "\nLoad average (1, 5, 15 min) at the start: %s; at the end: %s.\n", h.loadStart, h.loadEnd)
	b.WriteString("\n## How it was measured\n\n")
	pushFlags := strings.Join(h.buildah.pushFlags, " ")
	fmt.Fprintf(&b, `- Both tools pull their bases from a docker-registry on 127.0.0.1 (plain HTTP), holding the busybox and Debian layouts pushed there by skopeo.
- builder: `+"`builder build --root STATE -f DOCKERFILE -t bench:SCEN -o type=oci,dest=OUT,tar=false --compression gzip CONTEXT`"+`, timed as a whole.
- buildah: `+"`buildah --root R --runroot RR --storage-driver %s bud --isolation chroot --layers --tls-verify=false -f DOCKERFILE -t bench:SCEN CONTEXT`"+` then `+"`buildah ... push %s bench:SCEN oci:OUT:latest`"+`; the time is bud and push together. Otherwise buildah's defaults.
- buildah's default --pull asks the registry about the base on every build; the builder uses its stored base unless told --pull.
- Each tool has its own state directories. "Cold" scenarios start from empty state for both; warm ones reuse the state the one before left. debian-run and two-stages start from state where setup builds (not timed) pulled both bases.
- Rounds alternate the order: odd rounds run the builder first, even rounds buildah first. Page caches are never dropped; dirty pages are written out (sync) before each build, untimed.
- Every output is checked: skopeo reads it as an OCI layout, every layer is gzip, and every blob matches its size and digest.
- Debian base: bookworm, debootstrap --variant=minbase, made by scripts/debian-base.sh.
`, h.buildah.Driver, pushFlags)
	b.WriteString("\n## Scenarios\n\n")
	for _, g := range h.groups {
		for _, s := range g.scenarios {
			if h.times[s.name] != nil {
				fmt.Fprintf(&b, "- %s: %s\n", s.name, s.desc)
			}
		}
	}
	b.WriteString("\n## Every round\n\n| scenario | round | builder | buildah | ratio |\n| --- | ---: | ---: | ---: | ---: |\n")
	for _, g := range h.groups {
		for _, s := range g.scenarios {
			tm := h.times[s.name]
			if tm == nil {
				continue
			}
			for i, d := range tm.builder {
				bah, ratio := "–", "–"
				if i < len(tm.buildah) {
					bah = fmtDur(tm.buildah[i])
					ratio = fmt.Sprintf("%.2f", d.Seconds()/tm.buildah[i].Seconds())
				}
				fmt.Fprintf(&b, "| %s | %d | %s | %s | %s |\n", s.name, i+1, fmtDur(d), bah, ratio)
			}
		}
	}
	return b.String()
}
