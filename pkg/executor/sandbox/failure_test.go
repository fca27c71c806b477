package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestSetupErrors(t *testing.T) {
	tests := []struct {
		name     string
		kind     string
		change   func(t *testing.T, f *fixture, s *Spec)
		wantMsg  string
		wantExec bool
		invalid  error // an error Run returns before starting anything
	}{
		{
			name: "missing lower dir",
			kind: "overlay",
			change: func(_ *testing.T, f *fixture, s *Spec) {
				s.Rootfs.Overlay.LowerDirs = []string{filepath.Join(f.dir, "nope")}
			},
			wantMsg: "sandbox: mounting overlay: no such file or directory",
		},
		{
			name:    "missing root dir",
			kind:    "dir",
			change:  func(_ *testing.T, f *fixture, s *Spec) { s.Rootfs.Dir = filepath.Join(f.dir, "nope") },
			wantMsg: "sandbox: bind-mounting root directory",
		},
		{
			name: "proc is a file",
			kind: "dir",
			change: func(t *testing.T, f *fixture, _ *Spec) {
				if err := os.Remove(filepath.Join(f.image, "proc")); err != nil {
					t.Fatal(err)
				}
				writeFile(t, filepath.Join(f.image, "proc"), "", 0o644)
			},
			wantMsg: "sandbox: preparing mountpoint /proc: /proc is a regular file",
		},
		{
			name:     "command not found",
			kind:     "overlay",
			change:   func(_ *testing.T, _ *fixture, s *Spec) { s.Args = []string{"no-such-command"} },
			wantMsg:  `sandbox: executable file "no-such-command" not found in $PATH`,
			wantExec: true,
		},
		{
			name:     "command not executable",
			kind:     "dir",
			change:   func(_ *testing.T, _ *fixture, s *Spec) { s.Args = []string{"/etc/passwd"} },
			wantMsg:  "sandbox: executing /etc/passwd: permission denied",
			wantExec: true,
		},
		{
			name:    "cwd is a file",
			kind:    "dir",
			change:  func(_ *testing.T, _ *fixture, s *Spec) { s.Cwd = "/etc/passwd/x" },
			wantMsg: "sandbox: creating working directory /etc/passwd/x: /etc/passwd is not a directory",
		},
		{
			name:    "no command",
			kind:    "dir",
			change:  func(_ *testing.T, _ *fixture, s *Spec) { s.Args = nil },
			invalid: ErrInvalidSpec,
		},
		{
			name:    "relative cwd",
			kind:    "dir",
			change:  func(_ *testing.T, _ *fixture, s *Spec) { s.Cwd = "work" },
			invalid: ErrInvalidSpec,
		},
		{
			name: "two root filesystems",
			kind: "overlay",
			change: func(_ *testing.T, f *fixture, s *Spec) {
				s.Rootfs.Dir = f.image
			},
			invalid: ErrInvalidSpec,
		},
		{
			name: "lower stack too long",
			kind: "overlay",
			change: func(_ *testing.T, f *fixture, s *Spec) {
				for i := range 300 {
					s.Rootfs.Overlay.LowerDirs = append(s.Rootfs.Overlay.LowerDirs, filepath.Join(f.dir, fmt.Sprintf("a/%02d/layer-%d", i%50, i)))
				}
			},
			invalid: ErrOverlayTooLong,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.kind, rootfsOptions{})
			spec := f.spec(t, "echo ran")
			tt.change(t, f, &spec)
			o := runSpec(t, spec, "")
			if tt.invalid != nil {
				if !errors.Is(o.err, tt.invalid) {
					t.Fatalf("err = %v, want %v", o.err, tt.invalid)
				}
				return
			}
			var se *SetupError
			if !errors.As(o.err, &se) {
				t.Fatalf("err = %v (%T), want a *SetupError; stdout %q", o.err, o.err, o.stdout)
			}
			if !strings.HasPrefix(o.err.Error(), tt.wantMsg) || se.Exec != tt.wantExec {
				t.Errorf("err = %q (exec %v), want prefix %q (exec %v)", o.err, se.Exec, tt.wantMsg, tt.wantExec)
			}
			if o.stdout != "" {
				t.Errorf("the command ran: %q", o.stdout)
			}
		})
	}
}

func TestCancelKillsTheStep(t *testing.T) {
	for _, kind := range fixtureKinds() {
		t.Run(kind, func(t *testing.T) {
			f := newFixture(t, kind, rootfsOptions{})
			// The sleeps are not PID 1: only the PID namespace's end takes
			// them along. The odd duration tells them apart from anything
			// else on the host.
			spec := f.spec(t, "sleep 4242 & sleep 4242 & echo ready; wait")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer pr.Close()
			type ran struct {
				res Result
				err error
			}
			done := make(chan ran, 1)
			go func() {
				res, err := Run(ctx, spec, nil, pw, io.Discard)
				_ = pw.Close()
				done <- ran{res, err}
			}()
			line, err := bufio.NewReader(pr).ReadString('\n')
			if err != nil || line != "ready\n" {
				t.Fatalf("waiting for the step: %q, %v", line, err)
			}
			pidfds := waitSleepers(t, "sleep\x004242\x00", 2)
			if len(pidfds) != 2 {
				t.Fatalf("found %d sleeps of the step on the host, want 2", len(pidfds))
			}
			canceled := time.Now()
			cancel()
			var r ran
			select {
			case r = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return 10s after cancel")
			}
			if took := time.Since(canceled); took > 3*time.Second {
				t.Errorf("Run returned %v after cancel", took)
			}
			if !errors.Is(r.err, context.Canceled) {
				t.Errorf("err = %v, want context.Canceled", r.err)
			}
			if r.res.ExitCode != -1 || r.res.Signal != syscall.SIGKILL {
				t.Errorf("result = %+v, want killed by SIGKILL", r.res)
			}
			for _, fd := range pidfds {
				if err := unix.PidfdSendSignal(fd, 0, nil, 0); !errors.Is(err, unix.ESRCH) {
					t.Errorf("a sleep of the step survived (signal 0: %v)", err)
				}
				_ = unix.Close(fd)
			}
		})
	}
}

// sleepers returns pidfds of the host processes whose command line is
// cmdline and whose PID namespace differs from the test's.
// waitSleepers polls until want processes run cmdline or 5 s pass: the
// step's backgrounded commands may not have exec'd when it says "ready".
func waitSleepers(t *testing.T, cmdline string, want int) []int {
	t.Helper()
	pidfds := sleepers(t, cmdline)
	for deadline := time.Now().Add(5 * time.Second); len(pidfds) < want && time.Now().Before(deadline); {
		for _, fd := range pidfds {
			_ = unix.Close(fd)
		}
		time.Sleep(50 * time.Millisecond)
		pidfds = sleepers(t, cmdline)
	}
	return pidfds
}

func sleepers(t *testing.T, cmdline string) []int {
	t.Helper()
	self, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var fds []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Equal(data, []byte(cmdline)) {
			continue
		}
		if ns, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns/pid")); err != nil || ns == self {
			continue
		}
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			t.Fatalf("opening pidfd of %d: %v", pid, err)
		}
		fds = append(fds, fd)
	}
	return fds
}

func TestLongLowerStack(t *testing.T) {
	f := newFixture(t, "overlay", rootfsOptions{})
	// Absolute names of this many layers in a deep directory would need
	// several pages of mount data.
	parent := filepath.Join(f.dir, strings.Repeat("deep-directory-name/", 8))
	lowers := []string{f.image}
	const layers = 120
	for i := range layers {
		l := filepath.Join(parent, fmt.Sprintf("layer-%03d", i))
		writeFile(t, filepath.Join(l, "layers", strconv.Itoa(i)), "", 0o644)
		writeFile(t, filepath.Join(l, "top"), strconv.Itoa(i)+"\n", 0o644)
		lowers = append(lowers, l)
	}
	var abs int
	for _, l := range lowers {
		abs += len(l) + 1
	}
	if abs < 2*os.Getpagesize() {
		t.Fatalf("absolute lower names take only %d bytes: the test proves nothing", abs)
	}
	spec := f.spec(t, "ls /layers | wc -l; cat /top")
	spec.Rootfs.Overlay.LowerDirs = lowers
	if out := mustRun(t, spec); out != fmt.Sprintf("%d\n%d\n", layers, layers-1) {
		t.Errorf("sandbox sees %q, want %d layers with the last one on top", out, layers)
	}
}

func TestOverlaySpecialNames(t *testing.T) {
	f := newFixture(t, "overlay", rootfsOptions{})
	parent := filepath.Join(f.dir, `we:ird,pa\rent`)
	a := filepath.Join(parent, "a:b,c")
	b := filepath.Join(parent, `d\e`)
	writeFile(t, filepath.Join(a, "from-a"), "a\n", 0o644)
	writeFile(t, filepath.Join(b, "from-b"), "b\n", 0o644)
	upper := filepath.Join(f.dir, "up,per:dir")
	work := filepath.Join(f.dir, "wo:rk")
	mkdirs(t, f.dir, filepath.Base(upper), filepath.Base(work))
	spec := f.spec(t, "cat /from-a /from-b; echo new >/new")
	spec.Rootfs.Overlay = &Overlay{LowerDirs: []string{f.image, a, b}, UpperDir: upper, WorkDir: work}
	if out := mustRun(t, spec); out != "a\nb\n" {
		t.Errorf("sandbox sees %q", out)
	}
	if data := mustReadFile(t, filepath.Join(upper, "new")); data != "new\n" {
		t.Errorf("upper/new = %q", data)
	}
}
