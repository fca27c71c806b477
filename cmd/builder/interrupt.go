package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// signalError is the cause of the command's context when SIGINT or SIGTERM
// stops it. It is a context.Canceled, so code that tests for cancellation
// needs no change.
type signalError struct {
	sig syscall.Signal
}

func (e *signalError) Error() string { return "interrupted by " + unix.SignalName(e.sig) }

// Is makes the cause match context.Canceled.
func (e *signalError) Is(target error) bool { return target == context.Canceled }

// exitCode follows the shells, which report a command stopped by signal n
// as 128+n: 130 for SIGINT, 143 for SIGTERM.
func (e *signalError) exitCode() int { return 128 + int(e.sig) }

// cancelOnSignal cancels ctx with a *signalError when SIGINT or SIGTERM
// arrives. Later signals are swallowed until stop is called, so that the
// build can remove its scratch space and stop its steps.
func cancelOnSignal(ctx context.Context, cancel context.CancelCauseFunc) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			if sig, ok := s.(syscall.Signal); ok {
				cancel(&signalError{sig: sig})
			} else {
				cancel(nil)
			}
		case <-ctx.Done():
		case <-done:
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}

// interruption returns the signal that stopped ctx, or nil.
func interruption(ctx context.Context) *signalError {
	var se *signalError
	if errors.As(context.Cause(ctx), &se) {
		return se
	}
	return nil
}

// unfinishedError is a failed build's error together with the steps that
// had started but not finished, in the order they started
// ("Dockerfile:5 RUN sleep 100"); when a signal stopped the build, these
// are where it was.
type unfinishedError struct {
	steps []string
	err   error
}

func (e *unfinishedError) Error() string { return e.err.Error() }
func (e *unfinishedError) Unwrap() error { return e.err }

// reportError prints err and returns the exit code: 128+n when signal n
// stopped the command, else 1.
func reportError(ctx context.Context, w io.Writer, err error) int {
	sig := interruption(ctx)
	if sig == nil {
		if !errors.Is(err, errReported) {
			fmt.Fprintf(w, "error: %v\n", err)
		}
		return 1
	}
	msg := sig.Error()
	var ue *unfinishedError
	if errors.As(err, &ue) && len(ue.steps) > 0 {
		msg += " during " + strings.Join(ue.steps, ", ")
	}
	fmt.Fprintf(w, "error: %s\n", msg)
	// A step may end on its own before it sees the cancellation: when
	// the terminal sends SIGINT to its processes too, it fails with
	// "killed by signal". That error says more than "canceled".
	if !errors.Is(err, context.Canceled) && !errors.Is(err, errReported) {
		fmt.Fprintf(w, "error: %v\n", err)
	}
	return sig.exitCode()
}
