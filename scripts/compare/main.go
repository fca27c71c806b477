// Command compare builds one Dockerfile and context with this project's
// builder and with buildah, and prints how the two images differ: the
// config fields a container starts with (Env, Entrypoint, Cmd, WorkingDir,
// User, ExposedPorts, Volumes, Labels, StopSignal, Shell, Healthcheck,
// OnBuild, platform) and the unpacked filesystems (paths, types, modes,
// owners, link targets, content digests, xattrs; mtimes ignored; layers
// merged with whiteouts applied). History, creation times, layer
// boundaries and buildah's io.buildah.version label are left out as noise.
//
// Bases come from local OCI layouts (-base NAME=DIR, default
// busybox=build/busybox). The builder gets each as the named context NAME;
// buildah pulls the same image from a docker-registry started on loopback
// and names it NAME in its storage, where `FROM NAME` finds it. buildah
// runs with chroot isolation and vfs storage in a state directory of its
// own. Run it as root:
//
//	go run ./scripts/compare examples/app scripts/compare/cases/*
//
// Each CONTEXT is built from its Dockerfile (or -f, with one CONTEXT).
// Exit status: 0 when the images match, 1 when some differ (or only one
// tool could build), 2 on any other error (with one CONTEXT, also when
// neither tool built it).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/ocibuilder/builder/internal/registryserver"
	"github.com/ocibuilder/builder/pkg/oci"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	differ, err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	switch {
	case err != nil:
		fmt.Fprintf(os.Stderr, "compare: %v\n", err)
		os.Exit(2)
	case differ:
		os.Exit(1)
	}
}

// options are the command line's settings, paths absolute.
type options struct {
	// dockerfile is set with -f, for a single context.
	dockerfile string
	contexts   []string
	builder    string
	buildah    string
	driver     string
	work       string
	target     string
	bases      map[string]string
	buildArgs  []string
}

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func parseFlags(args []string) (options, error) {
	o := options{bases: map[string]string{}}
	var bases, buildArgs listFlag
	f := flag.NewFlagSet("compare", flag.ContinueOnError)
	f.StringVar(&o.dockerfile, "f", "", "Dockerfile, with a single CONTEXT (default CONTEXT/Dockerfile)")
	f.StringVar(&o.builder, "builder", "bin/builder", "this project's builder binary")
	f.StringVar(&o.buildah, "buildah", "buildah", "buildah binary")
	f.StringVar(&o.driver, "buildah-storage-driver", "vfs", "buildah's storage driver")
	f.StringVar(&o.work, "work", "build/compare", "work directory (emptied first; the images and their unpacked trees stay there)")
	f.StringVar(&o.target, "target", "", "stage to build")
	f.Var(&bases, "base", "base image NAME=OCI-LAYOUT-DIR, for FROM NAME (repeatable; default busybox=build/busybox)")
	f.Var(&buildArgs, "build-arg", "KEY=VALUE given to both tools (repeatable)")
	if err := f.Parse(args); err != nil {
		return o, err
	}
	if f.NArg() == 0 {
		return o, errors.New("no build context given")
	}
	if o.dockerfile != "" && f.NArg() > 1 {
		return o, errors.New("-f needs a single build context")
	}
	for _, c := range f.Args() {
		abs, err := filepath.Abs(c)
		if err != nil {
			return o, fmt.Errorf("resolving %s: %w", c, err)
		}
		o.contexts = append(o.contexts, abs)
	}
	if len(bases) == 0 {
		bases = listFlag{"busybox=build/busybox"}
	}
	for _, b := range bases {
		name, dir, ok := strings.Cut(b, "=")
		if !ok || name == "" || dir == "" {
			return o, fmt.Errorf("-base %q: want NAME=DIR", b)
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return o, fmt.Errorf("-base %q: %w", b, err)
		}
		o.bases[name] = abs
	}
	o.buildArgs = buildArgs
	for _, p := range []*string{&o.dockerfile, &o.work, &o.builder} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return o, fmt.Errorf("resolving %s: %w", *p, err)
		}
		*p = abs
	}
	if strings.ContainsRune(o.buildah, '/') {
		abs, err := filepath.Abs(o.buildah)
		if err != nil {
			return o, fmt.Errorf("resolving %s: %w", o.buildah, err)
		}
		o.buildah = abs
	}
	return o, nil
}

// run builds with both tools, prints the differences to w and reports
// whether there were any.
func run(ctx context.Context, args []string, w io.Writer) (bool, error) {
	o, err := parseFlags(args)
	if err != nil {
		return false, err
	}
	for _, bin := range []string{o.builder, o.buildah, "skopeo", registryserver.DefaultBinary} {
		if _, err := exec.LookPath(bin); err != nil {
			return false, fmt.Errorf("%s not found (make build; scripts/bench-deps.sh installs the others): %w", bin, err)
		}
	}
	if err := os.RemoveAll(o.work); err != nil {
		return false, fmt.Errorf("emptying the work directory: %w", err)
	}
	for _, d := range []string{"tmp", "cases"} {
		if err := os.MkdirAll(filepath.Join(o.work, d), 0o755); err != nil {
			return false, fmt.Errorf("creating the work directory: %w", err)
		}
	}
	regDir := filepath.Join(o.work, "registry")
	reg, err := registryserver.Start(ctx, registryserver.Options{Dir: regDir, LogFile: filepath.Join(regDir, "registry.log")})
	if err != nil {
		return false, err
	}
	defer reg.Stop()
	for name, dir := range o.bases {
		if _, err := output(ctx, nil, "skopeo", "copy", "-q", "--dest-tls-verify=false",
			"oci:"+dir+":latest", "docker://"+reg.Host()+"/"+name+":latest"); err != nil {
			return false, fmt.Errorf("pushing base %s (make busybox-base): %w", name, err)
		}
	}
	// buildah's temporary files (in /var/tmp otherwise) stay in the work
	// directory.
	env := []string{"TMPDIR=" + filepath.Join(o.work, "tmp")}
	defer removeBuildahState(o, env)
	if err := pullBases(ctx, o, reg.Host(), env); err != nil {
		return false, err
	}

	store, err := oci.OpenStore(filepath.Join(o.work, "store"))
	if err != nil {
		return false, err
	}
	var differ, failed int
	for i, c := range o.contexts {
		bc := buildCase{context: c, dockerfile: o.dockerfile, dir: filepath.Join(o.work, "cases", fmt.Sprintf("%02d-%s", i+1, filepath.Base(c)))}
		if bc.dockerfile == "" {
			bc.dockerfile = filepath.Join(c, "Dockerfile")
		}
		diffs, err := compareCase(ctx, o, bc, store, env, w)
		switch {
		case err != nil:
			failed++
			fmt.Fprintf(w, "%s: %v\n", bc.dockerfile, err)
		case diffs:
			differ++
		}
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
	}
	if len(o.contexts) > 1 {
		fmt.Fprintf(w, "\n%d builds: %d match, %d differ, %d not compared\n",
			len(o.contexts), len(o.contexts)-differ-failed, differ, failed)
	}
	if failed > 0 && len(o.contexts) == 1 {
		return false, errors.New("the build was not compared")
	}
	return differ > 0, nil
}

// buildCase is one Dockerfile and context to build with both tools; dir
// receives the images, their unpacked trees and the logs.
type buildCase struct {
	dockerfile, context, dir string
}

// compareCase builds c with both tools, prints how the images differ and
// reports whether they do. When only one tool builds, that is the
// difference; an error means nothing could be compared.
func compareCase(ctx context.Context, o options, c buildCase, store *oci.Store, env []string, w io.Writer) (bool, error) {
	if err := os.MkdirAll(filepath.Join(c.dir, "out"), 0o755); err != nil {
		return false, fmt.Errorf("creating %s: %w", c.dir, err)
	}
	builderOut, buildahOut := filepath.Join(c.dir, "out", "builder"), filepath.Join(c.dir, "out", "buildah")
	builderErr := buildWithBuilder(ctx, o, c, builderOut, env)
	buildahErr := buildWithBuildah(ctx, o, c, buildahOut, env)
	switch {
	case builderErr != nil && buildahErr != nil:
		return false, fmt.Errorf("both builds failed\nbuilder: %w\nbuildah: %w", builderErr, buildahErr)
	case builderErr != nil:
		fmt.Fprintf(w, "%s: builder failed, buildah built:\n%v\n", c.dockerfile, builderErr)
		return true, nil
	case buildahErr != nil:
		fmt.Fprintf(w, "%s: buildah failed, builder built:\n%v\n", c.dockerfile, buildahErr)
		return true, nil
	}
	a, err := unpack(ctx, store, builderOut, filepath.Join(c.dir, "rootfs", "builder"))
	if err != nil {
		return false, fmt.Errorf("builder's image: %w", err)
	}
	b, err := unpack(ctx, store, buildahOut, filepath.Join(c.dir, "rootfs", "buildah"))
	if err != nil {
		return false, fmt.Errorf("buildah's image: %w", err)
	}
	diffs := append(CompareConfigs(a.img.Config, b.img.Config), CompareTrees(a.tree, b.tree)...)
	fmt.Fprintf(w, "%s: builder %d layers, buildah %d layers; %d differences\n",
		c.dockerfile, len(a.img.Layers), len(b.img.Layers), len(diffs))
	for _, d := range diffs {
		fmt.Fprintln(w, "  "+d.String())
	}
	return len(diffs) > 0, nil
}
