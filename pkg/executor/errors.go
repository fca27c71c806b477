package executor

import (
	"fmt"
	"strings"
	"syscall"

	"github.com/ocibuilder/builder/internal/units"
	"github.com/ocibuilder/builder/pkg/parser"
)

// StepError is a RUN step whose command failed.
type StepError struct {
	Loc parser.Location
	// Cmd is the command line as run.
	Cmd []string
	// ExitCode is the command's exit status; -1 when a signal killed it.
	ExitCode int
	Signal   syscall.Signal
	// Tail holds the last lines of the command's output.
	Tail []string
	// OOMKilled is set when the kernel killed a process of the step
	// because the step reached MemoryLimit (bytes).
	OOMKilled   bool
	MemoryLimit int64
}

// Error names the Dockerfile line, the command, how it ended and what it
// printed last.
func (e *StepError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: process %q did not complete successfully: ", e.Loc, strings.Join(e.Cmd, " "))
	switch {
	case e.OOMKilled:
		fmt.Fprintf(&b, "killed: out of memory (limit %s)", units.FormatBytes(e.MemoryLimit))
	case e.Signal != 0:
		fmt.Fprintf(&b, "killed by signal %s", e.Signal)
	default:
		fmt.Fprintf(&b, "exit code %d", e.ExitCode)
	}
	if len(e.Tail) > 0 {
		b.WriteString("\nlast output:")
		for _, l := range e.Tail {
			b.WriteString("\n  " + l)
		}
	}
	return b.String()
}

// SecretMissingError is a RUN --mount=type=secret,required=true whose
// secret the build was not given (Options.Secrets).
type SecretMissingError struct {
	ID string
}

// Error names the secret and how to provide it.
func (e *SecretMissingError) Error() string {
	return fmt.Sprintf("secret %q is required but was not provided (use --secret id=%s,src=FILE)", e.ID, e.ID)
}

// MountNotSupportedError is a RUN --mount of a type the builder does not
// implement.
type MountNotSupportedError struct {
	Type string
}

// Error names the mount type.
func (e *MountNotSupportedError) Error() string {
	return fmt.Sprintf("RUN --mount=type=%s is not supported (bind, cache, tmpfs, secret and ssh are)", e.Type)
}
