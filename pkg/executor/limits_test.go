package executor_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ocibuilder/builder/internal/cgroup"
	"github.com/ocibuilder/builder/pkg/executor"
)

// requireCgroups skips limit tests where this machine's cgroups cannot
// enforce them; as root on a writable hierarchy they must work.
func requireCgroups(t *testing.T, l cgroup.Limits) {
	t.Helper()
	requireSandbox(t)
	m, err := cgroup.Open(cgroup.Config{})
	if err != nil {
		t.Skipf("cgroups unavailable: %v", err)
	}
	defer func() {
		if err := m.Close(context.Background()); err != nil {
			t.Errorf("closing the probe's cgroups: %v", err)
		}
	}()
	if err := m.Check(l); err != nil {
		t.Skipf("cgroups cannot enforce %+v: %v", l, err)
	}
}

// stepOutput collects the output of a build's steps and hands the test
// each line as it arrives.
type stepOutput struct {
	mu    sync.Mutex
	text  strings.Builder
	lines chan string
}

func newStepOutput() *stepOutput { return &stepOutput{lines: make(chan string, 1024)} }

func (s *stepOutput) progress() executor.Progress {
	var partial string
	return executor.FuncProgress(func(e executor.Event) {
		if e.Kind != executor.StepLog {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.text.Write(e.Data)
		partial += string(e.Data)
		for {
			line, rest, ok := strings.Cut(partial, "\n")
			if !ok {
				break
			}
			partial = rest
			select {
			case s.lines <- line:
			default:
			}
		}
	})
}

func (s *stepOutput) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.text.String()
}

// stepCgroupDirs maps each controller to the host directory of the cgroup
// a step printed with `cat /proc/self/cgroup` (the sandbox has no cgroup
// namespace, so the paths are the host's).
func stepCgroupDirs(t *testing.T, out string) map[string]string {
	t.Helper()
	v, err := cgroup.DetectVersion(cgroup.DefaultRoot)
	if err != nil {
		t.Fatal(err)
	}
	dirs := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		_, rest, _ := strings.Cut(line, ":")
		ctrls, p, ok := strings.Cut(rest, ":")
		if !ok || !strings.Contains(p, "/step-") {
			continue
		}
		if v == cgroup.Unified {
			for _, c := range []string{"memory", "cpu", "pids"} {
				dirs[c] = filepath.Join(cgroup.DefaultRoot, p)
			}
			continue
		}
		for _, c := range strings.Split(ctrls, ",") {
			dirs[c] = filepath.Join(cgroup.DefaultRoot, c, p)
		}
	}
	if len(dirs) == 0 {
		t.Fatalf("the step printed no cgroup of its own:\n%s", out)
	}
	return dirs
}

// checkGone fails for each directory that still exists.
func checkGone(t *testing.T, dirs map[string]string) {
	t.Helper()
	for c, d := range dirs {
		if _, err := os.Lstat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s cgroup %s still exists after the build (%v)", c, d, err)
		}
		// The build's subtree goes too.
		if _, err := os.Lstat(filepath.Dir(d)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s cgroup subtree %s still exists after the build (%v)", c, filepath.Dir(d), err)
		}
	}
}

// TestRunOutOfMemory runs a step that needs far more memory than its limit:
// the build must fail with a StepError that says so.
func TestRunOutOfMemory(t *testing.T) {
	limits := cgroup.Limits{Memory: 64 << 20}
	requireCgroups(t, limits)
	// tail keeps the last ten lines, and /dev/zero has no newline: it
	// holds all 300 MB.
	df := "FROM base\nRUN cat /proc/self/cgroup; head -c 300m /dev/zero | tail >/dev/null\n"
	out := newStepOutput()
	_, err := runBuild(t, spec{base: busyboxBase(t), dockerfile: df}, executor.SnapshotterAuto, func(o *executor.Options) {
		o.Limits = executor.Limits(limits)
		o.Progress = out.progress()
	})
	var se *executor.StepError
	if !errors.As(err, &se) {
		t.Fatalf("build error %v (%T), want a *executor.StepError\noutput:\n%s", err, err, out)
	}
	if !se.OOMKilled || se.MemoryLimit != 64<<20 {
		t.Errorf("StepError OOMKilled=%v MemoryLimit=%d, want true and %d", se.OOMKilled, se.MemoryLimit, 64<<20)
	}
	if want := "killed: out of memory (limit 64MiB)"; !strings.Contains(err.Error(), want) {
		t.Errorf("error message lacks %q:\n%v", want, err)
	}
	checkGone(t, stepCgroupDirs(t, out.String()))
}

// TestRunWithinMemoryLimit checks that a limit alone fails nothing: a step
// that fits succeeds, and its group is gone afterwards.
func TestRunWithinMemoryLimit(t *testing.T) {
	limits := cgroup.Limits{Memory: 64 << 20, Pids: 128}
	requireCgroups(t, limits)
	df := "FROM base\nRUN cat /proc/self/cgroup; head -c 10m /dev/zero | tail >/dev/null; echo fits > /fits\n"
	out := newStepOutput()
	r, err := runBuild(t, spec{base: busyboxBase(t), dockerfile: df}, executor.SnapshotterAuto, func(o *executor.Options) {
		o.Limits = executor.Limits(limits)
		o.Progress = out.progress()
	})
	if err != nil {
		t.Fatalf("build: %v\noutput:\n%s", err, out)
	}
	r.wantFile(t, "/fits", "fits\n")
	checkGone(t, stepCgroupDirs(t, out.String()))
}

// TestRunFailureRemovesCgroup checks that a failing step's group goes.
func TestRunFailureRemovesCgroup(t *testing.T) {
	limits := cgroup.Limits{Pids: 100}
	requireCgroups(t, limits)
	out := newStepOutput()
	_, err := runBuild(t, spec{base: busyboxBase(t), dockerfile: "FROM base\nRUN cat /proc/self/cgroup; exit 3\n"}, executor.SnapshotterAuto, func(o *executor.Options) {
		o.Limits = executor.Limits(limits)
		o.Progress = out.progress()
	})
	var se *executor.StepError
	if !errors.As(err, &se) || se.ExitCode != 3 || se.OOMKilled {
		t.Fatalf("build error %v, want exit code 3 without out of memory", err)
	}
	checkGone(t, stepCgroupDirs(t, out.String()))
}

// TestRunCPULimit reads the CPU quota of a running step's group, then
// cancels the build: the group must be gone when Build returns.
func TestRunCPULimit(t *testing.T) {
	limits := cgroup.Limits{CPUs: 1.5, Pids: 50}
	requireCgroups(t, limits)
	s := spec{base: busyboxBase(t), dockerfile: "FROM base\nRUN cat /proc/self/cgroup; echo listed; sleep 100\n"}
	out := newStepOutput()
	o := s.options(t)
	o.Limits = executor.Limits(limits)
	o.Progress = out.progress()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := executor.Build(ctx, s.graph(t), o)
		errc <- err
	}()
	waitLine(t, out, errc, "listed")
	dirs := stepCgroupDirs(t, out.String())
	v, err := cgroup.DetectVersion(cgroup.DefaultRoot)
	if err != nil {
		t.Fatal(err)
	}
	if v == cgroup.Unified {
		if got := readTrim(t, filepath.Join(dirs["cpu"], "cpu.max")); got != "150000 100000" {
			t.Errorf("cpu.max %q, want \"150000 100000\"", got)
		}
	} else {
		quota := readTrim(t, filepath.Join(dirs["cpu"], "cpu.cfs_quota_us"))
		period := readTrim(t, filepath.Join(dirs["cpu"], "cpu.cfs_period_us"))
		if quota != "150000" || period != "100000" {
			t.Errorf("cfs quota %s, period %s; want 150000 and 100000", quota, period)
		}
	}
	if got := readTrim(t, filepath.Join(dirs["pids"], "pids.max")); got != "50" {
		t.Errorf("pids.max %q, want 50", got)
	}
	cancel()
	waitCanceled(t, errc, 30*time.Second)
	checkGone(t, dirs)
	checkNoLeftovers(t, o.Root)
}

// TestRunForkBomb runs a fork bomb under a process limit: the step's
// process count must stay at the limit, the limit must have been hit, and
// the build must succeed when the step's shell ends three seconds later
// (a builtin read with a timeout: it needs no fork), which takes the bomb
// with it.
func TestRunForkBomb(t *testing.T) {
	limits := cgroup.Limits{Pids: 64}
	requireCgroups(t, limits)
	const bomb = "b(){ b|b& };b"
	df := "FROM base\nRUN cat /proc/self/cgroup; mkfifo /tmp/f; echo listed; sh -c '" + bomb + "' 2>/dev/null; read -t 3 x <>/tmp/f; exit 0\n"
	s := spec{base: busyboxBase(t), dockerfile: df}
	out := newStepOutput()
	o := s.options(t)
	o.Limits = executor.Limits(limits)
	o.Progress = out.progress()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := executor.Build(ctx, s.graph(t), o)
		errc <- err
	}()
	waitLine(t, out, errc, "listed")
	dirs := stepCgroupDirs(t, out.String())
	var peak int64
	var hit bool
	var err error
	var done bool
	for !done {
		select {
		case err = <-errc:
			done = true
		case <-time.After(20 * time.Millisecond):
			if n, rerr := readInt(filepath.Join(dirs["pids"], "pids.current")); rerr == nil && n > peak {
				peak = n
			}
			if ev, rerr := os.ReadFile(filepath.Join(dirs["pids"], "pids.events")); rerr == nil && strings.HasPrefix(string(ev), "max ") && !strings.HasPrefix(string(ev), "max 0") {
				hit = true
			}
		}
	}
	if err != nil {
		t.Fatalf("build with a contained fork bomb: %v\noutput:\n%s", err, out)
	}
	if peak > limits.Pids {
		t.Errorf("the step had %d processes, over its limit of %d", peak, limits.Pids)
	}
	if !hit {
		t.Errorf("the step never reached its process limit (peak %d): the bomb did not run", peak)
	}
	checkGone(t, dirs)
}

// waitLine waits until the build's output has a line equal to want.
func waitLine(t *testing.T, out *stepOutput, errc <-chan error, want string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l := <-out.lines:
			if l == want {
				return
			}
		case err := <-errc:
			t.Fatalf("build ended before printing %q: %v\noutput:\n%s", want, err, out)
		case <-timeout:
			t.Fatalf("no line %q within 30s; output:\n%s", want, out)
		}
	}
}

func readTrim(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

func readInt(p string) (int64, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", p, err)
	}
	return n, nil
}
