// Package buildah drives Debian's buildah with state of its own (root,
// runroot, storage driver), as the side-by-side benchmark and the image
// comparison script run it.
package buildah

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Tool is one buildah binary with its own state directories.
type Tool struct {
	// Bin is the buildah program.
	Bin string
	// Root and Runroot are buildah's storage and run-time state.
	Root, Runroot string
	// Driver is the storage driver (overlay, vfs).
	Driver string
	// Env is added to the environment of every command.
	Env []string
}

// Args returns args after the global flags that select the tool's state.
func (t *Tool) Args(args ...string) []string {
	return append([]string{"--root", t.Root, "--runroot", t.Runroot, "--storage-driver", t.Driver}, args...)
}

// Command is buildah with the global flags, then args.
func (t *Tool) Command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, t.Bin, t.Args(args...)...)
	cmd.Env = append(os.Environ(), t.Env...)
	return cmd
}

// Clear removes every container and image of the state, which unmounts
// what buildah mounted. An empty state is no error.
func (t *Tool) Clear(ctx context.Context) error {
	var errs []error
	for _, args := range [][]string{{"rm", "-a"}, {"rmi", "-a", "-f"}} {
		var out bytes.Buffer
		cmd := t.Command(ctx, args...)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil && !strings.Contains(out.String(), "no images") {
			errs = append(errs, fmt.Errorf("buildah %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String())))
		}
	}
	return errors.Join(errs...)
}
