package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ocibuilder/builder/internal/buildah"
)

// The tools under test: this project's builder and buildah, and running
// their commands.

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
	// args are more build flags both tools take (--build-context).
	args []string
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
	args := append([]string{"build", "--root", t.root, "--progress", "plain",
		"-f", spec.dockerfile, "-t", "bench:" + tag,
		"-o", "type=oci,dest=" + out + ",tar=false", "--compression", "gzip"}, spec.args...)
	err := runTo(ctx, log, t.env, t.bin, append(args, spec.context)...)
	return time.Since(start), err
}

// buildahTool is buildah with state of its own, chroot isolation and its
// layer cache on.
type buildahTool struct {
	buildah.Tool
	// pushFlags ask push for gzip layers, where this version can be asked.
	pushFlags []string
	// tmp is its TMPDIR, where it keeps RUN --mount=type=cache caches
	// (buildah-cache), outside its storage.
	tmp string
}

func (t *buildahTool) name() string { return "buildah" }

// budFlags are the flags of every buildah bud.
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
	if err := removeTree(filepath.Join(t.tmp, "buildah-cache")); err != nil {
		return err
	}
	return removeTree(t.Runroot)
}

func (t *buildahTool) build(ctx context.Context, spec buildSpec, tag, out string, log *os.File) (time.Duration, error) {
	image := "bench:" + tag
	bud := t.Args(append(append(t.budFlags(), spec.args...), "-f", spec.dockerfile, "-t", image, spec.context)...)
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
