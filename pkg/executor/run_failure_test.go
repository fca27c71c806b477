package executor_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ocibuilder/builder/pkg/executor"
)

// TestRunFailure checks what a failing RUN step reports, and that it
// leaves nothing mounted or in the scratch space.
func TestRunFailure(t *testing.T) {
	requireSandbox(t)
	base := busyboxBase(t)
	const cmd = "echo first; echo second >&2; for i in $(seq 30); do echo line-$i; done; exit 3"
	df := "FROM base\nENV A=1\nRUN " + cmd + "\nRUN echo never > /never\n"
	for _, snap := range snapshotters() {
		t.Run(string(snap), func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var logged strings.Builder
			progress := executor.FuncProgress(func(e executor.Event) {
				if e.Kind == executor.StepLog {
					mu.Lock()
					logged.Write(e.Data)
					mu.Unlock()
				}
			})
			_, err := runBuild(t, spec{base: base, dockerfile: df}, snap, func(o *executor.Options) { o.Progress = progress })
			if err == nil {
				t.Fatal("build succeeded, want the RUN step's failure")
			}
			var se *executor.StepError
			if !errors.As(err, &se) {
				t.Fatalf("error %v (%T) is not a *executor.StepError", err, err)
			}
			if se.ExitCode != 3 || se.Signal != 0 {
				t.Errorf("exit code %d, signal %v; want 3 and none", se.ExitCode, se.Signal)
			}
			if se.Loc.File != "Dockerfile" || se.Loc.Line != 3 {
				t.Errorf("error located at %v, want Dockerfile:3", se.Loc)
			}
			if want := []string{"/bin/sh", "-c", cmd}; !slices.Equal(se.Cmd, want) {
				t.Errorf("command %q, want %q", se.Cmd, want)
			}
			if n := len(se.Tail); n == 0 || n > 30 || se.Tail[n-1] != "line-30" || slices.Contains(se.Tail, "line-1") {
				t.Errorf("output tail %q: want the last lines only, ending with line-30", se.Tail)
			}
			msg := err.Error()
			for _, want := range []string{"Dockerfile:3", "exit code 3", "echo first", "line-30"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error message lacks %q:\n%s", want, msg)
				}
			}
			mu.Lock()
			out := logged.String()
			mu.Unlock()
			for _, want := range []string{"first\n", "second\n", "line-1\n", "line-30\n"} {
				if !strings.Contains(out, want) {
					t.Errorf("progress output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// TestRunCancel cancels a build while its RUN step sleeps: Build must
// return promptly with context.Canceled, the step's processes must be gone,
// and nothing may stay mounted or in the scratch space.
func TestRunCancel(t *testing.T) {
	requireSandbox(t)
	base := busyboxBase(t)
	for _, snap := range snapshotters() {
		t.Run(string(snap), func(t *testing.T) {
			t.Parallel()
			// busybox sleep adds its arguments: the fraction marks
			// this step's processes.
			n, err := rand.Int(rand.Reader, big.NewInt(1e9))
			if err != nil {
				t.Fatal(err)
			}
			marker := fmt.Sprintf("0.%09d1", n)
			s := spec{base: base, dockerfile: "FROM base\nRUN sleep 100 " + marker + "\n"}
			o := s.options(t)
			o.Snapshotter = snap
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errc := make(chan error, 1)
			go func() {
				_, err := executor.Build(ctx, s.graph(t), o)
				errc <- err
			}()
			waitFor(t, errc, func() bool {
				return slices.ContainsFunc(processesWith(marker), func(argv []string) bool { return filepath.Base(argv[0]) == "sleep" })
			})
			cancel()
			start := time.Now()
			select {
			case err := <-errc:
				if d := time.Since(start); d > 5*time.Second {
					t.Errorf("Build returned %v after the cancellation", d)
				}
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Build returned %v, want context.Canceled", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("Build did not return within 30s of the cancellation")
			}
			if ps := processesWith(marker); len(ps) > 0 {
				t.Errorf("processes of the cancelled step are still running: %q", ps)
			}
			checkNoLeftovers(t, o.Root)
			checkNoMounts(t, o.Root)
		})
	}
}

// waitFor polls cond until it holds, failing the test when the build ends
// first or after 30 seconds.
func waitFor(t *testing.T, errc <-chan error, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		select {
		case err := <-errc:
			t.Fatalf("build ended before the step was seen running: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the step's process did not appear within 30s")
		}
	}
}

// processesWith returns the argv of every process on the machine whose
// command line contains s.
func processesWith(s string) [][]string {
	var out [][]string
	pids, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range pids {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), s) {
			continue
		}
		out = append(out, strings.Split(strings.TrimRight(string(b), "\x00"), "\x00"))
	}
	return out
}

// TestRunUnsupportedFlags checks that RUN options the builder cannot honour
// as written fail the build at their line instead of being ignored.
func TestRunUnsupportedFlags(t *testing.T) {
	requireSandbox(t)
	base := busyboxBase(t)
	tests := []struct {
		name, run, want string
	}{
		{"cache mount with more than a file mode", "RUN --mount=type=cache,target=/c,mode=077777 touch /c/x", "--mount"},
		{"insecure without --allow", "RUN --security=insecure touch /x", "--allow security.insecure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err, pe := buildErr(t, spec{base: base, dockerfile: "FROM base\nENV A=1\n" + tt.run + "\n"})
			if pe.Loc.Line != 3 || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v at line %d, want one naming %s at line 3", err, pe.Loc.Line, tt.want)
			}
		})
	}
}

// waitCanceled waits for a cancelled Build's result on errc, which must
// be context.Canceled and come within d.
func waitCanceled(t *testing.T, errc <-chan error, d time.Duration) {
	t.Helper()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Build returned %v, want context.Canceled", err)
		}
	case <-time.After(d):
		t.Fatalf("Build did not return within %v of the cancellation", d)
	}
}
