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
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	"github.com/ocibuilder/builder/internal/registryserver"
)

// main runs the benchmark and exits non-zero on failure.
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

// parseFlags parses the command line.
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

// run checks for root and the tools, and runs the benchmark until it is
// done or interrupted.
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
