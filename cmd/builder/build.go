package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ocibuilder/builder/internal/cgroup"
	"github.com/ocibuilder/builder/internal/units"
	"github.com/ocibuilder/builder/pkg/executor"
	"github.com/ocibuilder/builder/pkg/layer"
	"github.com/ocibuilder/builder/pkg/oci"
	"github.com/ocibuilder/builder/pkg/oci/images"
	"github.com/ocibuilder/builder/pkg/oci/remote"
	"github.com/ocibuilder/builder/pkg/parser"
	"github.com/spf13/cobra"
)

// buildFlags holds the values of `builder build` flags, named as in
// docker buildx.
type buildFlags struct {
	file          string
	tags          []string
	buildArgs     []string
	target        string
	labels        []string
	platform      string
	outputs       []string
	buildContexts []string
	progress      string
	quiet         bool
	push          bool
	pull          bool
	compression   string
	network       string
	snapshotter   string
	memory        string
	cpus          string
	pidsLimit     int64
	maxArchive    string
	maxLayer      string
	secrets       []string
	noCache       bool
	noCacheFilter []string
	jobs          int
	level         int
}

func newBuildCommand(g *globalFlags) *cobra.Command {
	var f buildFlags
	cmd := &cobra.Command{
		Use:   "build [OPTIONS] PATH",
		Short: "Build an image from a Dockerfile",
		Long: `Build an image from a Dockerfile and the build context at PATH.

Outputs (-o) follow docker buildx:
  type=oci,dest=FILE.tar           OCI image layout as a tar archive (default for type=oci)
  type=oci,dest=DIR,tar=false      OCI image layout directory
  type=local,dest=DIR              the image's root filesystem
  type=docker,dest=FILE.tar        a docker-archive for docker load / podman load
  type=registry                    push to every -t name (same as --push)
  DIR                              short for type=local,dest=DIR
dest=- writes a tar archive to standard output. Without -o, the image is kept
in the state directory under its -t names (see builder images).`,
		Example: `  builder build -t app:1 -o type=oci,dest=app.tar .
  builder build -f docker/Dockerfile --build-arg VERSION=2 --target runtime -o type=oci,dest=out,tar=false .
  builder build --build-context base=oci-layout:///var/tmp/busybox:latest -o rootfs .`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBuild(cmd, g, args[0], f)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.file, "file", "f", "", `name of the Dockerfile (default "PATH/Dockerfile"; "-" reads standard input)`)
	fl.StringArrayVarP(&f.tags, "tag", "t", nil, `image name and optionally a tag ("name:tag")`)
	fl.StringArrayVar(&f.buildArgs, "build-arg", nil, "set a build-time variable (KEY=VALUE, or KEY to take it from the environment)")
	fl.StringVar(&f.target, "target", "", "build only this stage and what it needs")
	fl.StringArrayVar(&f.labels, "label", nil, "set a label on the image (KEY=VALUE)")
	fl.StringVar(&f.platform, "platform", "", `target platform ("linux/amd64")`)
	fl.StringArrayVarP(&f.outputs, "output", "o", nil, `output destination ("type=oci,dest=app.tar")`)
	fl.StringArrayVar(&f.buildContexts, "build-context", nil, "additional build context (NAME=oci-layout:///path[:tag|@digest] or NAME=DIR)")
	fl.StringVar(&f.progress, "progress", "auto", "progress output: auto, tty, plain or json (one JSON object per event and line)")
	fl.BoolVar(&f.noCache, "no-cache", false, "run every step even if its result is cached")
	fl.StringSliceVar(&f.noCacheFilter, "no-cache-filter", nil, "run the steps of these stages even if cached (names or indexes)")
	fl.IntVar(&f.jobs, "jobs", 0, "how many stages may run at once (0: the number of CPUs)")
	fl.IntVar(&f.level, "compression-level", 0, "compression level of new layers (gzip 1-9, zstd 1-22; 0: the default)")
	fl.BoolVar(&f.push, "push", false, "push the image to every -t name (short for -o type=registry)")
	fl.BoolVar(&f.pull, "pull", false, "ask the registry for newer versions of stored base images")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "print only the image manifest digest")
	fl.StringVar(&f.compression, "compression", "gzip", "layer compression: gzip, zstd or uncompressed")
	fl.StringVar(&f.network, "network", "default", "network of RUN steps: default (the host's), host or none")
	fl.StringVar(&f.snapshotter, "snapshotter", "auto", "how RUN steps get a writable root: auto, overlay or copy")
	fl.StringVar(&f.memory, "memory", "", `memory limit of each RUN step ("512m", "2g"; "" or 0 for none)`)
	fl.StringVar(&f.cpus, "cpus", "", `CPUs each RUN step may use ("1.5"; "" or 0 for no limit)`)
	fl.Int64Var(&f.pidsLimit, "pids-limit", defaultPidsLimit, "most processes each RUN step may have (0 or -1 for no limit)")
	fl.StringArrayVar(&f.secrets, "secret", nil, `secret for RUN --mount=type=secret ("id=NAME,src=FILE" or "id=NAME,env=VAR")`)
	fl.StringVar(&f.maxArchive, "max-archive-size", defaultMaxArchiveSize, `most bytes a local archive may expand to when ADD extracts it ("512m", "2g"; 0 or -1 for no limit)`)
	fl.StringVar(&f.maxLayer, "max-layer-size", defaultMaxLayerSize, `most bytes a base-image layer may expand to ("8g"; 0 or -1 for no limit)`)
	return cmd
}

// defaultRoot is /var/lib/builder for root, else under $XDG_DATA_HOME.
func defaultRoot() string {
	if os.Geteuid() == 0 {
		return "/var/lib/builder"
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "builder")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "builder")
	}
	return filepath.Join(os.TempDir(), "builder")
}

func runBuild(cmd *cobra.Command, g *globalFlags, contextDir string, f buildFlags) error {
	ctx := cmd.Context()
	outs, err := parseOutputs(f.outputs)
	if err != nil {
		return err
	}
	if f.push {
		outs = append(outs, output{typ: "registry"})
	}
	for _, o := range outs {
		if o.typ == "registry" && len(f.tags) == 0 {
			return errors.New("pushing needs at least one -t name")
		}
	}
	buildArgs, err := parseKeyValues("--build-arg", f.buildArgs, true)
	if err != nil {
		return err
	}
	labels, err := parseKeyValues("--label", f.labels, false)
	if err != nil {
		return err
	}
	named, err := parseKeyValues("--build-context", f.buildContexts, false)
	if err != nil {
		return err
	}
	for _, tag := range f.tags {
		if _, err := oci.ParseImageName(tag); err != nil {
			return fmt.Errorf("-t %s: %w", tag, err)
		}
	}
	compression, err := layer.ParseCompression(f.compression)
	if err != nil {
		return err
	}
	if f.jobs < 0 {
		return fmt.Errorf("--jobs %d: want 0 (the number of CPUs) or more", f.jobs)
	}
	switch f.progress {
	case "auto", "tty", "plain", "json":
	default:
		return fmt.Errorf("--progress %q: want auto, tty, plain or json", f.progress)
	}
	network, err := executor.ParseNetworkMode(f.network)
	if err != nil {
		return fmt.Errorf("--network: %w", err)
	}
	snap := executor.Snapshotter(f.snapshotter)
	switch snap {
	case "auto":
		snap = executor.SnapshotterAuto
	case executor.SnapshotterOverlay, executor.SnapshotterCopy:
	default:
		return fmt.Errorf("--snapshotter %q: want auto, overlay or copy", f.snapshotter)
	}
	limits, err := parseLimits(f)
	if err != nil {
		return err
	}
	maxArchive, err := parseSizeLimit("--max-archive-size", f.maxArchive)
	if err != nil {
		return err
	}
	maxLayer, err := parseSizeLimit("--max-layer-size", f.maxLayer)
	if err != nil {
		return err
	}
	secrets, err := readSecrets(f.secrets, os.LookupEnv)
	if err != nil {
		return err
	}
	dockerfile, data, err := readDockerfile(cmd.InOrStdin(), contextDir, f.file)
	if err != nil {
		return err
	}
	po := parser.Options{Filename: dockerfile, BuildArgs: buildArgs, Target: f.target}
	eo := executor.Options{
		Context:        contextDir,
		NamedContexts:  named,
		Labels:         labels,
		Compression:    layer.EncodeOptions{Compression: compression, Level: f.level},
		NoCache:        f.noCache,
		NoCacheFilter:  f.noCacheFilter,
		Jobs:           f.jobs,
		Network:        network,
		Snapshotter:    snap,
		Limits:         limits,
		Secrets:        secrets,
		MaxArchiveSize: maxArchive,
		MaxLayerSize:   maxLayer,
	}
	if f.platform != "" {
		p, err := executor.ParsePlatform(f.platform)
		if err != nil {
			return fmt.Errorf("--platform: %w", err)
		}
		po.TargetPlatform, eo.Platform = p, p
	}
	if eo.SourceDateEpoch, err = sourceDateEpoch(buildArgs); err != nil {
		return err
	}
	if eo.Ignore, err = executor.ReadIgnoreFile(contextDir, dockerfile); err != nil {
		return err
	}

	graph, err := parser.Parse(bytes.NewReader(data), po)
	if err != nil {
		return err
	}
	st, err := openState(ctx, g)
	if err != nil {
		return err
	}
	defer st.close()
	eo.State = st.dir
	eo.Resolver = &images.Resolver{Index: st.index, Store: st.store, Remote: st.remote, Pull: f.pull}
	prog := newProgress(ctx, cmd.ErrOrStderr(), f.progress, f.quiet)
	defer prog.close()
	for _, w := range graph.Warnings {
		prog.warn(w.String())
	}
	eo.Progress = prog
	img, err := executor.Build(ctx, graph, eo)
	if err != nil {
		return &unfinishedError{steps: prog.unfinishedSteps(), err: err}
	}
	for _, a := range graph.UnconsumedBuildArgs() {
		if a == "SOURCE_DATE_EPOCH" {
			continue
		}
		prog.warn(fmt.Sprintf("build arg %s was not consumed", a))
	}
	desc, _, err := img.Manifest(ctx)
	if err != nil {
		return err
	}
	wo := oci.WriteOptions{RefNames: f.tags, MaxLayerSize: maxLayer, Warn: prog.warn}
	for _, o := range outs {
		start := time.Now()
		if o.typ == "registry" {
			for _, tag := range f.tags {
				pushed, err := remote.Push(ctx, img, tag, st.remote)
				if err != nil {
					return fmt.Errorf("pushing %s: %w", tag, err)
				}
				prog.info(fmt.Sprintf("pushed %s@%s", tag, pushed.Digest))
			}
			continue
		}
		if err := o.write(ctx, img, wo, cmd.OutOrStdout()); err != nil {
			return fmt.Errorf("writing output %s: %w", o, err)
		}
		prog.info(fmt.Sprintf("exported %s in %.1fs", o, time.Since(start).Seconds()))
	}
	if len(outs) == 0 {
		if len(f.tags) == 0 {
			prog.warn("no output (-o) and no name (-t): the image is stored, unnamed, until the next prune")
		}
		for _, tag := range f.tags {
			if err := st.index.Tag(ctx, tag, desc); err != nil {
				return err
			}
			prog.info("naming to " + tag)
		}
	}
	prog.close()
	if f.quiet {
		fmt.Fprintln(cmd.OutOrStdout(), desc.Digest)
	} else {
		prog.info(fmt.Sprintf("image manifest %s", desc.Digest))
	}
	return nil
}

// defaultPidsLimit bounds the processes of a RUN step unless --pids-limit
// says otherwise, so that a fork bomb fails its step, not the machine.
const defaultPidsLimit = 4096

// parseLimits reads --memory, --cpus and --pids-limit.
func parseLimits(f buildFlags) (executor.Limits, error) {
	var l executor.Limits
	var err error
	if f.memory != "" {
		if l.Memory, err = units.ParseBytes(f.memory); err != nil {
			return l, fmt.Errorf("--memory: %w", err)
		}
	}
	if f.cpus != "" {
		if l.CPUs, err = cgroup.ParseCPUs(f.cpus); err != nil {
			return l, fmt.Errorf("--cpus: %w", err)
		}
	}
	if f.pidsLimit < -1 {
		return l, fmt.Errorf("--pids-limit %d: want a positive number, or 0 or -1 for no limit", f.pidsLimit)
	}
	l.Pids = f.pidsLimit
	if err := l.Validate(); err != nil {
		return l, err
	}
	return l, nil
}

// readDockerfile returns the Dockerfile's name (for messages and its
// .dockerignore) and content.
func readDockerfile(stdin io.Reader, contextDir, file string) (string, []byte, error) {
	if file == "-" {
		data, err := io.ReadAll(io.LimitReader(stdin, 64<<20))
		return "Dockerfile", data, err
	}
	if file == "" {
		file = filepath.Join(contextDir, "Dockerfile")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", nil, fmt.Errorf("reading Dockerfile: %w", err)
	}
	return file, data, nil
}

// parseKeyValues parses repeated KEY=VALUE flags. With fromEnv, a bare KEY
// takes its value from the environment (and is skipped if unset), as
// docker does for --build-arg.
func parseKeyValues(flag string, vals []string, fromEnv bool) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range vals {
		k, val, ok := strings.Cut(v, "=")
		if k == "" {
			return nil, fmt.Errorf("%s %q: want KEY=VALUE", flag, v)
		}
		if !ok {
			if !fromEnv {
				return nil, fmt.Errorf("%s %q: want KEY=VALUE", flag, v)
			}
			env, set := os.LookupEnv(k)
			if !set {
				continue
			}
			val = env
		}
		out[k] = val
	}
	return out, nil
}

// sourceDateEpoch reads SOURCE_DATE_EPOCH from the build args, else the
// environment, as BuildKit does.
func sourceDateEpoch(buildArgs map[string]string) (*time.Time, error) {
	v, ok := buildArgs["SOURCE_DATE_EPOCH"]
	if !ok {
		v, ok = os.LookupEnv("SOURCE_DATE_EPOCH")
	}
	if !ok || v == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return nil, errors.New("SOURCE_DATE_EPOCH: want a non-negative number of seconds")
	}
	t := time.Unix(n, 0).UTC()
	return &t, nil
}
