package executor_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ocibuilder/builder/pkg/executor"
	"github.com/ocibuilder/builder/pkg/oci"
	"github.com/ocibuilder/builder/pkg/parser"
)

// These tests prove concurrency by construction, never by timing: stages
// that must meet over a loopback TCP port can only both finish when they
// run at the same time, and a deadline far beyond what a working build
// needs turns a sequential run or a missed cancellation into a failure.

// freePort returns a loopback TCP port nothing listened on a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// uniqueText returns text no earlier build has seen, so that no step
// cache can serve a step that embeds it.
func uniqueText(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("reading random bytes: %v", err)
	}
	return prefix + "-" + hex.EncodeToString(b)
}

// buildWithin builds s with opt applied to its options under a context
// that expires after limit, and checks that nothing stays mounted or in the
// scratch space. A successful build is validated and flattened. expired
// reports whether the deadline had passed when Build returned.
func buildWithin(t *testing.T, s spec, limit time.Duration, opt func(*executor.Options)) (r *result, expired bool, err error) {
	t.Helper()
	o := s.options(t)
	// The stages of these builds meet over the host's loopback.
	o.Network = executor.NetworkHost
	if opt != nil {
		opt(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	img, err := executor.Build(ctx, s.graph(t), o)
	expired = ctx.Err() != nil
	checkNoLeftovers(t, o.Root)
	checkNoMounts(t, o.Root)
	if err != nil {
		return nil, expired, err
	}
	if err := oci.Validate(ctx, img); err != nil {
		t.Fatalf("validating the built image: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "rootfs")
	if err := oci.WriteRootfs(ctx, img, dir, oci.WriteOptions{}); err != nil {
		t.Fatalf("flattening the built image: %v", err)
	}
	return &result{img: img, rootfs: dir, root: o.Root}, expired, nil
}

// rendezvous is a Dockerfile whose stages a and b only both succeed when
// they run at the same time: a waits for one connection on port and keeps
// what it receives, b sends msg, retrying tries times 0.1 s apart. Run one
// after the other, either a waits forever or b gives up. b's nc reads msg
// from a file: from a pipe it may see a's end of the connection close
// before it has read anything and exit having sent nothing.
func rendezvous(port int, msg string, tries int) string {
	return fmt.Sprintf(`FROM base AS a
RUN nc -l -p %[1]d > /got
FROM base AS b
RUN echo %[2]s > /msg; for i in $(seq %[3]d); do if nc 127.0.0.1 %[1]d < /msg; then echo sent > /sent; exit 0; fi; sleep 0.1; done; exit 1
FROM scratch
COPY --from=a /got /got
COPY --from=b /sent /sent
`, port, msg, tries)
}

func TestParallelStagesRunTogether(t *testing.T) {
	requireSandbox(t)
	base := busyboxBase(t)
	for _, jobs := range []int{2, 0} {
		t.Run(fmt.Sprintf("jobs=%d", jobs), func(t *testing.T) {
			if jobs == 0 && runtime.NumCPU() < 2 {
				t.Skip("--jobs 0 means one stage at a time on a single CPU")
			}
			msg := uniqueText(t, "hello")
			s := spec{base: base, dockerfile: rendezvous(freePort(t), msg, 500)}
			r, expired, err := buildWithin(t, s, 60*time.Second, func(o *executor.Options) { o.Jobs = jobs })
			if err != nil {
				t.Fatalf("stages a and b did not meet (deadline passed: %v): %v", expired, err)
			}
			r.wantFile(t, "/got", msg+"\n")
			r.wantFile(t, "/sent", "sent\n")
		})
	}
	// The control: one job at a time cannot build the same graph, so the
	// runs above succeeded only because the stages overlapped.
	t.Run("jobs=1 cannot meet", func(t *testing.T) {
		s := spec{base: base, dockerfile: rendezvous(freePort(t), uniqueText(t, "hello"), 20)}
		_, expired, err := buildWithin(t, s, 10*time.Second, func(o *executor.Options) { o.Jobs = 1 })
		if err == nil {
			t.Fatal("the rendezvous succeeded with one job: the test does not prove concurrency")
		}
		var se *executor.StepError
		if !expired && !errors.As(err, &se) {
			t.Errorf("error %v (%T): want b's failed retries or the deadline", err, err)
		}
	})
}

func TestParallelJobsOneChain(t *testing.T) {
	requireSandbox(t)
	base := busyboxBase(t)
	// final waits for b and c, b for a: a stage waiting for another must
	// give its only token back, or the build deadlocks.
	s := spec{base: base, dockerfile: `FROM base AS a
RUN echo a > /a
FROM a AS b
RUN echo b > /b
FROM base AS c
RUN echo c > /c
FROM base
COPY --from=b /b /b
COPY --from=c /c /c
COPY --from=b /a /a
`}
	r, expired, err := buildWithin(t, s, 120*time.Second, func(o *executor.Options) { o.Jobs = 1 })
	if err != nil {
		t.Fatalf("build with one job (deadline passed: %v): %v", expired, err)
	}
	r.wantFile(t, "/a", "a\n")
	r.wantFile(t, "/b", "b\n")
	r.wantFile(t, "/c", "c\n")
}

func TestParallelFailureCancelsOthers(t *testing.T) {
	requireSandbox(t)
	base := busyboxBase(t)
	port := freePort(t)
	// busybox sleep adds its arguments: the fraction marks b's process.
	marker := "0.0000" + randomDigits(t) + "1"
	// a fails only once it has reached b's listener, so b's long step is
	// running when a fails.
	s := spec{base: base, dockerfile: fmt.Sprintf(`FROM base AS a
RUN for i in $(seq 600); do if echo x | nc 127.0.0.1 %[1]d; then exit 3; fi; sleep 0.1; done; exit 4
FROM base AS b
RUN nc -l -p %[1]d > /dev/null; sleep 600 %[2]s
FROM scratch
COPY --from=a /etc/passwd /a
COPY --from=b /etc/passwd /b
`, port, marker)}
	_, expired, err := buildWithin(t, s, 120*time.Second, func(o *executor.Options) { o.Jobs = 2 })
	if err == nil {
		t.Fatal("build succeeded, want a's failure")
	}
	if expired || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Build waited for the deadline (%v): b's step was not cancelled when a failed", err)
	}
	var se *executor.StepError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a's *executor.StepError", err, err)
	}
	if se.ExitCode != 3 || se.Loc.File != "Dockerfile" || se.Loc.Line != 2 {
		t.Errorf("StepError exit code %d at %v, want 3 at Dockerfile:2: %v", se.ExitCode, se.Loc, err)
	}
	if ps := processesWith(marker); len(ps) > 0 {
		t.Errorf("b's step still runs after Build returned: %q", ps)
	}
}

// TestParallelFirstFailureIsReported checks that the error of the stage
// that failed is what Build returns, not the "stage a failed" of a stage
// that read its result, nor a cancellation. The order of the two is up to
// the scheduler, so the build runs many times.
func TestParallelFirstFailureIsReported(t *testing.T) {
	s := spec{dockerfile: `FROM scratch AS a
COPY missing /x
FROM scratch AS b
COPY --from=a /x /x
FROM scratch
COPY --from=b /x /x
`}
	for i := range 100 {
		o := s.options(t)
		o.Jobs = 3
		_, err := executor.Build(context.Background(), s.graph(t), o)
		checkNoLeftovers(t, o.Root)
		var pe *parser.Error
		if !errors.As(err, &pe) || pe.Loc.Line != 2 || !strings.Contains(err.Error(), "missing") {
			t.Fatalf("run %d: error %v, want the failing COPY of stage a at line 2", i, err)
		}
	}
}

func TestParallelOnlyNeededStages(t *testing.T) {
	requireSandbox(t)
	base := busyboxBase(t)
	df := `FROM base AS unrelated
RUN exit 7
FROM base AS dep
RUN echo dep > /dep
FROM dep AS final
RUN cat /dep > /final
FROM unrelated AS last
RUN echo never > /never
`
	var mu sync.Mutex
	var events []executor.Event
	progress := executor.FuncProgress(func(e executor.Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	})
	r, expired, err := buildWithin(t, spec{base: base, dockerfile: df, target: "final"}, 120*time.Second, func(o *executor.Options) {
		o.Jobs = 2
		o.Progress = progress
	})
	if err != nil {
		t.Fatalf("building target final (deadline passed: %v): %v", expired, err)
	}
	r.wantFile(t, "/final", "dep\n")
	mu.Lock()
	defer mu.Unlock()
	started := 0
	for _, e := range events {
		if strings.Contains(e.Name, "unrelated") || strings.Contains(e.Name, "[last") {
			t.Errorf("progress event %d names a stage final does not need: %q", e.Kind, e.Name)
		}
		if e.Kind == executor.StepStarted {
			started++
		}
	}
	// FROM and RUN of dep, FROM and RUN of final.
	if started != 4 {
		t.Errorf("%d steps started, want 4", started)
	}

	// The control: the default target needs the failing stage.
	_, _, err = buildWithin(t, spec{base: base, dockerfile: df}, 120*time.Second, nil)
	var se *executor.StepError
	if !errors.As(err, &se) || se.ExitCode != 7 || se.Loc.Line != 2 {
		t.Errorf("building the last stage: error %v, want exit code 7 at line 2", err)
	}
}

// TestParallelStageCancelKillsEverything checks that cancelling the build
// while two stages run stops both and leaves nothing behind.
func TestParallelStageCancelKillsEverything(t *testing.T) {
	requireSandbox(t)
	base := busyboxBase(t)
	markers := []string{"0.0000" + randomDigits(t) + "1", "0.0000" + randomDigits(t) + "1"}
	s := spec{base: base, dockerfile: fmt.Sprintf(`FROM base AS a
RUN sleep 600 %s
FROM base AS b
RUN sleep 600 %s
FROM scratch
COPY --from=a /etc/passwd /a
COPY --from=b /etc/passwd /b
`, markers[0], markers[1])}
	o := s.options(t)
	o.Jobs = 2
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := executor.Build(ctx, s.graph(t), o)
		errc <- err
	}()
	// Both steps run at once: the proof that both stages were started
	// before the cancellation.
	waitFor(t, errc, func() bool { return len(processesWith(markers[0])) > 0 && len(processesWith(markers[1])) > 0 })
	cancel()
	waitCanceled(t, errc, 120*time.Second)
	for _, m := range markers {
		if ps := processesWith(m); len(ps) > 0 {
			t.Errorf("processes of a cancelled step are still running: %q", ps)
		}
	}
	checkNoLeftovers(t, o.Root)
	checkNoMounts(t, o.Root)
}

// randomDigits returns nine random decimal digits.
func randomDigits(t *testing.T) string {
	t.Helper()
	b := make([]byte, 9)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("reading random bytes: %v", err)
	}
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return string(b)
}
