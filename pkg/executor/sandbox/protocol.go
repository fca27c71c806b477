package sandbox

import (
	"encoding/gob"
	"errors"
	"fmt"
	"io"
)

// The parent and the child talk over two inherited pipes. The spec goes down
// as one gob value (gob, not JSON, because arguments and paths are bytes and
// need not be UTF-8). Reports come back as a stream of gob values: one
// "ready" report just before the command is executed and, if setup or the
// exec itself fails, an error report. The report pipe is close-on-exec in the
// child, so a successful exec shows up in the parent as end of stream.
const (
	specFD   = 3
	reportFD = 4
)

// report is one message from the child to the parent.
type report struct {
	// Stubs are the mountpoints created so far.
	Stubs []string
	// Ready is set when setup succeeded and the command is about to be
	// executed.
	Ready bool
	// Err describes a failure; Exec tells it happened starting the command
	// rather than building the sandbox.
	Err  string
	Exec bool
}

// SetupError is a failure of the sandbox itself, reported by the child
// before the command ran.
type SetupError struct {
	// Msg says what failed, e.g. "mounting overlay: invalid argument".
	Msg string
	// Exec is true when the sandbox was ready but the command could not be
	// started (not found, not executable, bad format).
	Exec bool
}

// Error returns the message, prefixed with "sandbox: ".
func (e *SetupError) Error() string { return "sandbox: " + e.Msg }

// childOutcome is what the parent learned from the report stream.
type childOutcome struct {
	stubs []string
	ready bool
	err   *SetupError
}

// readReports decodes reports until the child closes the pipe.
func readReports(r io.Reader) (childOutcome, error) {
	var out childOutcome
	dec := gob.NewDecoder(r)
	for {
		var rep report
		if err := dec.Decode(&rep); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, fmt.Errorf("reading sandbox setup report: %w", err)
		}
		if rep.Stubs != nil {
			out.stubs = rep.Stubs
		}
		if rep.Ready {
			out.ready = true
		}
		if rep.Err != "" {
			out.err = &SetupError{Msg: rep.Err, Exec: rep.Exec}
		}
	}
}
