package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/ocibuilder/builder/pkg/executor"
	"github.com/ocibuilder/builder/pkg/oci"
	"github.com/ocibuilder/builder/pkg/oci/images"
	"github.com/ocibuilder/builder/pkg/oci/remote"
	"github.com/ocibuilder/builder/pkg/parser"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
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
	allow         []string
	snapshotter   string
	memory        string
	cpus          string
	pidsLimit     int64
	maxArchive    string
	maxLayer      string
	secrets       []string
	ssh           []string
	noCache       bool
	noCacheFilter []string
	jobs          int
	level         int
	check         bool
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
	fl.BoolVar(&f.check, "check", false, "only run the build checks and report their findings (exit status 1 when there are any)")
	fl.StringVar(&f.compression, "compression", "gzip", "layer compression: gzip, zstd or uncompressed")
	fl.StringVar(&f.network, "network", "default", "network of RUN steps: default (a private network per step, outbound through slirp4netns), host or none")
	fl.StringArrayVar(&f.allow, "allow", nil, "grant an entitlement: security.insecure (RUN --security=insecure) or network.host (RUN --network=host)")
	fl.StringVar(&f.snapshotter, "snapshotter", "auto", "how RUN steps get a writable root: auto, overlay or copy")
	fl.StringVar(&f.memory, "memory", "", `memory limit of each RUN step ("512m", "2g"; "" or 0 for none)`)
	fl.StringVar(&f.cpus, "cpus", "", `CPUs each RUN step may use ("1.5"; "" or 0 for no limit)`)
	fl.Int64Var(&f.pidsLimit, "pids-limit", defaultPidsLimit, "most processes each RUN step may have (0 or -1 for no limit)")
	fl.StringArrayVar(&f.secrets, "secret", nil, `secret for RUN --mount=type=secret ("id=NAME,src=FILE" or "id=NAME,env=VAR")`)
	fl.StringArrayVar(&f.ssh, "ssh", nil, `SSH agent for RUN --mount=type=ssh: "default", "ID=SOCKET" or "ID=KEYFILE[,KEYFILE]" (repeatable)`)
	fl.StringVar(&f.maxArchive, "max-archive-size", defaultMaxArchiveSize, `most bytes a local archive may expand to when ADD extracts it ("512m", "2g"; 0 or -1 for no limit)`)
	fl.StringVar(&f.maxLayer, "max-layer-size", defaultMaxLayerSize, `most bytes a base-image layer may expand to ("8g"; 0 or -1 for no limit)`)
	return cmd
}

// runBuild reads the build's inputs, builds the image and writes it where
// the flags say.
func runBuild(cmd *cobra.Command, g *globalFlags, contextDir string, f buildFlags) error {
	ctx := cmd.Context()
	in, err := readBuildInputs(cmd.InOrStdin(), contextDir, f)
	if err != nil {
		return err
	}
	if f.check {
		return runCheck(ctx, cmd.OutOrStdout(), in, f.progress)
	}
	graph, err := parser.Parse(bytes.NewReader(in.dockerfile), in.parse)
	if err != nil {
		return reportCheckFailure(ctx, cmd.ErrOrStderr(), f, err)
	}
	st, err := openState(ctx, g)
	if err != nil {
		return err
	}
	defer st.close()
	r := &buildRun{f: f, in: in, st: st, stdout: cmd.OutOrStdout()}
	r.prog = newProgress(ctx, cmd.ErrOrStderr(), f.progress, f.quiet)
	defer r.prog.close()
	img, err := r.build(ctx, graph)
	if err != nil {
		return err
	}
	desc, _, err := img.Manifest(ctx)
	if err != nil {
		return err
	}
	if err := r.export(ctx, img, desc); err != nil {
		return err
	}
	r.prog.close()
	if f.quiet {
		fmt.Fprintln(r.stdout, desc.Digest)
	} else {
		r.prog.info(fmt.Sprintf("image manifest %s", desc.Digest))
	}
	return nil
}

// buildRun is one `builder build` once its inputs are read and the state
// directory is open: what it builds, where it reports and where the image
// goes.
type buildRun struct {
	f      buildFlags
	in     *buildInputs
	st     *state
	prog   *progress
	stdout io.Writer
}

// build runs the executor on graph with the state directory's store, image
// index and registries, reporting to the progress display.
func (r *buildRun) build(ctx context.Context, graph *parser.Graph) (*oci.Image, error) {
	eo := r.in.exec
	eo.State = r.st.dir
	eo.Resolver = &images.Resolver{Index: r.st.index, Store: r.st.store, Remote: r.st.remote, Pull: r.f.pull}
	eo.Progress = r.prog
	for _, w := range graph.Warnings {
		r.prog.warning(w)
	}
	img, err := executor.Build(ctx, graph, eo)
	if err != nil {
		return nil, &unfinishedError{steps: r.prog.unfinishedSteps(), err: err}
	}
	for _, a := range graph.UnconsumedBuildArgs() {
		if a == "SOURCE_DATE_EPOCH" {
			continue
		}
		r.prog.warn(fmt.Sprintf("build arg %s was not consumed", a))
	}
	return img, nil
}

// export writes img, whose manifest is desc, to every -o destination; with
// none, the image stays in the state directory under its -t names.
func (r *buildRun) export(ctx context.Context, img *oci.Image, desc ocispec.Descriptor) error {
	wo := oci.WriteOptions{RefNames: r.f.tags, MaxLayerSize: r.in.exec.MaxLayerSize, Warn: r.prog.warn}
	for _, o := range r.in.outs {
		if o.typ == "registry" {
			if err := r.push(ctx, img); err != nil {
				return err
			}
			continue
		}
		start := time.Now()
		if err := o.write(ctx, img, wo, r.stdout); err != nil {
			return fmt.Errorf("writing output %s: %w", o, err)
		}
		r.prog.info(fmt.Sprintf("exported %s in %.1fs", o, time.Since(start).Seconds()))
	}
	if len(r.in.outs) == 0 {
		return r.name(ctx, desc)
	}
	return nil
}

// push sends img to the registry of every -t name.
func (r *buildRun) push(ctx context.Context, img *oci.Image) error {
	for _, tag := range r.f.tags {
		pushed, err := remote.Push(ctx, img, tag, r.st.remote)
		if err != nil {
			return fmt.Errorf("pushing %s: %w", tag, err)
		}
		r.prog.info(fmt.Sprintf("pushed %s@%s", tag, pushed.Digest))
	}
	return nil
}

// name gives the image manifest desc every -t name in the state
// directory's image index.
func (r *buildRun) name(ctx context.Context, desc ocispec.Descriptor) error {
	if len(r.f.tags) == 0 {
		r.prog.warn("no output (-o) and no name (-t): the image is stored, unnamed, until the next prune")
	}
	for _, tag := range r.f.tags {
		if err := r.st.index.Tag(ctx, tag, desc); err != nil {
			return err
		}
		r.prog.info("naming to " + tag)
	}
	return nil
}
