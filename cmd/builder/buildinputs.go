package main

import (
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
	"github.com/ocibuilder/builder/pkg/parser"
)

// buildInputs is what `builder build` takes from its flags, the
// environment and the files they name, checked, before it opens the state
// directory: a mistake in any of them fails the command before it touches
// anything.
type buildInputs struct {
	outs       []output
	dockerfile []byte
	parse      parser.Options
	// exec lacks what comes from the state directory: State, Resolver
	// and Progress.
	exec executor.Options
}

// readBuildInputs checks the flags, reads the Dockerfile, the secrets and
// the .dockerignore file, and makes the parser's and executor's options.
func readBuildInputs(stdin io.Reader, contextDir string, f buildFlags) (*buildInputs, error) {
	outs, err := parseBuildOutputs(f)
	if err != nil {
		return nil, err
	}
	buildArgs, err := parseKeyValues("--build-arg", f.buildArgs, true)
	if err != nil {
		return nil, err
	}
	labels, err := parseKeyValues("--label", f.labels, false)
	if err != nil {
		return nil, err
	}
	named, err := parseKeyValues("--build-context", f.buildContexts, false)
	if err != nil {
		return nil, err
	}
	for _, tag := range f.tags {
		if _, err := oci.ParseImageName(tag); err != nil {
			return nil, fmt.Errorf("-t %s: %w", tag, err)
		}
	}
	eo, err := executorOptions(f, contextDir, labels, named)
	if err != nil {
		return nil, err
	}
	dockerfile, data, err := readDockerfile(stdin, contextDir, f.file)
	if err != nil {
		return nil, err
	}
	po := parser.Options{Filename: dockerfile, BuildArgs: buildArgs, Target: f.target, CheckAllStages: f.check && f.target == ""}
	if f.platform != "" {
		p, err := executor.ParsePlatform(f.platform)
		if err != nil {
			return nil, fmt.Errorf("--platform: %w", err)
		}
		po.TargetPlatform, eo.Platform = p, p
	}
	if eo.SourceDateEpoch, err = sourceDateEpoch(buildArgs); err != nil {
		return nil, err
	}
	if eo.Ignore, err = executor.ReadIgnoreFile(contextDir, dockerfile); err != nil {
		return nil, err
	}
	po.Ignore = eo.Ignore
	return &buildInputs{outs: outs, dockerfile: data, parse: po, exec: eo}, nil
}

// parseBuildOutputs reads -o and --push. Pushing goes to the -t names, so
// it needs one.
func parseBuildOutputs(f buildFlags) ([]output, error) {
	outs, err := parseOutputs(f.outputs)
	if err != nil {
		return nil, err
	}
	if f.push {
		outs = append(outs, output{typ: "registry"})
	}
	for _, o := range outs {
		if o.typ == "registry" && len(f.tags) == 0 {
			return nil, errors.New("pushing needs at least one -t name")
		}
	}
	return outs, nil
}

// executorOptions checks the flags that set how steps run and layers are
// written, reads the secrets, and returns the executor's options for the
// build of contextDir.
func executorOptions(f buildFlags, contextDir string, labels, named map[string]string) (executor.Options, error) {
	var eo executor.Options
	compression, err := layer.ParseCompression(f.compression)
	if err != nil {
		return eo, err
	}
	if f.jobs < 0 {
		return eo, fmt.Errorf("--jobs %d: want 0 (the number of CPUs) or more", f.jobs)
	}
	switch f.progress {
	case "auto", "tty", "plain", "json":
	default:
		return eo, fmt.Errorf("--progress %q: want auto, tty, plain or json", f.progress)
	}
	network, err := executor.ParseNetworkMode(f.network)
	if err != nil {
		return eo, fmt.Errorf("--network: %w", err)
	}
	var allow []executor.Entitlement
	for _, a := range f.allow {
		e, err := executor.ParseEntitlement(a)
		if err != nil {
			return eo, fmt.Errorf("--allow: %w", err)
		}
		allow = append(allow, e)
	}
	snap, err := parseSnapshotter(f.snapshotter)
	if err != nil {
		return eo, err
	}
	limits, err := parseLimits(f)
	if err != nil {
		return eo, err
	}
	maxArchive, err := parseSizeLimit("--max-archive-size", f.maxArchive)
	if err != nil {
		return eo, err
	}
	maxLayer, err := parseSizeLimit("--max-layer-size", f.maxLayer)
	if err != nil {
		return eo, err
	}
	secrets, err := readSecrets(f.secrets, os.LookupEnv)
	if err != nil {
		return eo, err
	}
	ssh, err := parseSSH(f.ssh, os.LookupEnv)
	if err != nil {
		return eo, err
	}
	return executor.Options{
		Context:        contextDir,
		NamedContexts:  named,
		Labels:         labels,
		Compression:    layer.EncodeOptions{Compression: compression, Level: f.level},
		NoCache:        f.noCache,
		NoCacheFilter:  f.noCacheFilter,
		Jobs:           f.jobs,
		Network:        network,
		Allow:          allow,
		Snapshotter:    snap,
		Limits:         limits,
		Secrets:        secrets,
		SSH:            ssh,
		MaxArchiveSize: maxArchive,
		MaxLayerSize:   maxLayer,
	}, nil
}

// parseSnapshotter reads --snapshotter.
func parseSnapshotter(v string) (executor.Snapshotter, error) {
	switch snap := executor.Snapshotter(v); snap {
	case "auto":
		return executor.SnapshotterAuto, nil
	case executor.SnapshotterOverlay, executor.SnapshotterCopy:
		return snap, nil
	}
	return "", fmt.Errorf("--snapshotter %q: want auto, overlay or copy", v)
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
