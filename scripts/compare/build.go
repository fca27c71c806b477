package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/ocibuilder/builder/internal/buildah"
)

// How the two tools are run: bases pulled into buildah's storage, one
// build each, and the commands' logs.

// pullBases pulls each base into buildah's storage from the registry and
// names it as FROM does: a short name is looked up among local images
// before any registry is asked, so no alias of the system's
// registries.conf can send it elsewhere.
func pullBases(ctx context.Context, o options, host string, env []string) error {
	for name := range o.bases {
		ref := host + "/" + name + ":latest"
		if _, err := output(ctx, env, o.buildah, buildahTool(o, env).Args("pull", "-q", "--tls-verify=false", ref)...); err != nil {
			return fmt.Errorf("buildah pulling base %s: %w", name, err)
		}
		if _, err := output(ctx, env, o.buildah, buildahTool(o, env).Args("tag", ref, name+":latest")...); err != nil {
			return fmt.Errorf("buildah naming base %s: %w", name, err)
		}
	}
	return nil
}

// buildWithBuilder builds c with this project's builder into the OCI
// layout directory out, its bases given as named contexts.
func buildWithBuilder(ctx context.Context, o options, c buildCase, out string, env []string) error {
	args := []string{"build", "--root", filepath.Join(o.work, "state", "builder"), "--progress", "plain",
		"-f", c.dockerfile, "-t", "compare:latest", "-o", "type=oci,dest=" + out + ",tar=false"}
	for name, dir := range o.bases {
		args = append(args, "--build-context", name+"=oci-layout://"+dir+":latest")
	}
	for _, a := range o.buildArgs {
		args = append(args, "--build-arg", a)
	}
	if o.target != "" {
		args = append(args, "--target", o.target)
	}
	return runLogged(ctx, filepath.Join(c.dir, "builder.log"), env, o.builder, append(args, c.context)...)
}

// buildahTool is buildah with its state in the work directory.
func buildahTool(o options, env []string) *buildah.Tool {
	return &buildah.Tool{Bin: o.buildah, Root: filepath.Join(o.work, "state", "buildah", "root"),
		Runroot: filepath.Join(o.work, "state", "buildah", "runroot"), Driver: o.driver, Env: env}
}

// buildWithBuildah builds c with buildah and pushes the image to the OCI
// layout directory out.
func buildWithBuildah(ctx context.Context, o options, c buildCase, out string, env []string) error {
	args := buildahTool(o, env).Args("bud", "--isolation", "chroot", "--pull=never",
		"-f", c.dockerfile, "-t", "compare:latest")
	for _, a := range o.buildArgs {
		args = append(args, "--build-arg", a)
	}
	if o.target != "" {
		args = append(args, "--target", o.target)
	}
	log := filepath.Join(c.dir, "buildah.log")
	if err := runLogged(ctx, log, env, o.buildah, append(args, c.context)...); err != nil {
		return err
	}
	return runLogged(ctx, log, env, o.buildah, buildahTool(o, env).Args("push", "compare:latest", "oci:"+out+":latest")...)
}

// removeBuildahState lets buildah drop what it made; the work directory
// keeps the rest for a look.
func removeBuildahState(o options, env []string) {
	if err := buildahTool(o, env).Clear(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "compare: %v\n", err)
	}
}

// runLogged runs a command with its output appended to the file log; an
// error carries the log's last lines.
func runLogged(ctx context.Context, log string, env []string, name string, args ...string) error {
	f, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("opening log: %w", err)
	}
	defer f.Close()
	fmt.Fprintf(f, "+ %s %s\n", name, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w (log %s):\n%s", filepath.Base(name), err, log, tail(log, 8))
	}
	return nil
}

// tail is the last n lines of the file p.
func tail(p string, n int) string {
	data, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}

// output runs a command and returns its standard output.
func output(ctx context.Context, env []string, name string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}
