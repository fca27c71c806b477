package main

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// Helpers for tests that act when a build reaches a given state (a line of
// its progress output, a file appearing), never after a fixed delay.

// startedBuild is a builder process whose standard error is read line by
// line while it runs. Reading never waits for the test, so the build is
// never held up by a full pipe.
type startedBuild struct {
	cmd  *exec.Cmd
	eof  chan struct{} // closed at the end of standard error
	more chan struct{} // signalled when a line arrives
	mu   sync.Mutex
	buf  []string // every line read so far
	next int      // the first line waitLine has not looked at
}

// startBuilder starts the builder; the process is killed when the test
// ends if it still runs. A nil stdout discards standard output.
func startBuilder(t *testing.T, bin string, env []string, stdout *os.File, args ...string) *startedBuild {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	if stdout != nil {
		cmd.Stdout = stdout
	}
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := &startedBuild{cmd: cmd, eof: make(chan struct{}), more: make(chan struct{}, 1)}
	go func() {
		defer close(b.eof)
		sc := bufio.NewScanner(pipe)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			b.mu.Lock()
			b.buf = append(b.buf, sc.Text())
			b.mu.Unlock()
			select {
			case b.more <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			b.wait()
		}
	})
	return b
}

// output returns the standard error read so far.
func (b *startedBuild) output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.buf, "\n")
}

// waitLine returns the first line not looked at before that contains
// needle; it fails the test if the builder's standard error ends first.
func (b *startedBuild) waitLine(t *testing.T, needle string) string {
	t.Helper()
	for {
		b.mu.Lock()
		for ; b.next < len(b.buf); b.next++ {
			if line := b.buf[b.next]; strings.Contains(line, needle) {
				b.next++
				b.mu.Unlock()
				return line
			}
		}
		b.mu.Unlock()
		select {
		case <-b.more:
		case <-b.eof:
			b.mu.Lock()
			done := b.next == len(b.buf)
			b.mu.Unlock()
			if done {
				t.Fatalf("the build ended before printing %q:\n%s", needle, b.output())
			}
		}
	}
}

// wait reads standard error to its end and waits for the process.
func (b *startedBuild) wait() error {
	<-b.eof
	return b.cmd.Wait()
}

// descendants returns the pids of every process below pid.
func descendants(t *testing.T, pid int) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	children := map[int][]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		// The fields after the command name, which is in parentheses
		// and may hold anything: state, ppid, ...
		i := bytes.LastIndexByte(data, ')')
		f := strings.Fields(string(data[i+1:]))
		if len(f) < 2 {
			continue
		}
		if pp, err := strconv.Atoi(f[1]); err == nil {
			children[pp] = append(children[pp], p)
		}
	}
	var out []int
	for queue := children[pid]; len(queue) > 0; queue = queue[1:] {
		out = append(out, queue[0])
		queue = append(queue, children[queue[0]]...)
	}
	return out
}

// processHandles holds pidfds of processes, so that their end can be
// awaited without polling and without mistaking a reused pid for them.
type processHandles map[int]int // pid → pidfd

// openProcesses opens pidfds for pids; processes already gone are left
// out.
func openProcesses(t *testing.T, pids []int) processHandles {
	t.Helper()
	h := processHandles{}
	for _, pid := range pids {
		fd, err := unix.PidfdOpen(pid, 0)
		if errors.Is(err, unix.ESRCH) {
			continue
		}
		if err != nil {
			t.Fatalf("pidfd_open %d: %v", pid, err)
		}
		h[pid] = fd
	}
	t.Cleanup(func() {
		for _, fd := range h {
			unix.Close(fd)
		}
	})
	return h
}

// running returns the processes that have not exited, waiting up to
// timeout milliseconds (-1: until all have) for them to exit.
func (h processHandles) running(t *testing.T, timeout int) []int {
	t.Helper()
	left := map[int]int{}
	for pid, fd := range h {
		left[pid] = fd
	}
	for len(left) > 0 {
		fds := make([]unix.PollFd, 0, len(left))
		for _, fd := range left {
			fds = append(fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
		}
		n, err := unix.Poll(fds, timeout)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			t.Fatalf("poll on pidfds: %v", err)
		}
		if n == 0 {
			break
		}
		for _, f := range fds {
			if f.Revents != 0 {
				for pid, fd := range left {
					if int32(fd) == f.Fd {
						delete(left, pid)
					}
				}
			}
		}
	}
	var pids []int
	for pid := range left {
		pids = append(pids, pid)
	}
	return pids
}

// watchCreate returns a channel that yields once an entry is created in
// (or moved into) dir. The watch is in place when watchCreate returns.
func watchCreate(t *testing.T, dir string) <-chan struct{} {
	t.Helper()
	return watch(t, dir, unix.IN_CREATE|unix.IN_MOVED_TO)
}

// watchOpen returns a channel that yields once file is opened. The watch
// is in place when watchOpen returns.
func watchOpen(t *testing.T, file string) <-chan struct{} {
	t.Helper()
	return watch(t, file, unix.IN_OPEN)
}

func watch(t *testing.T, path string, mask uint32) <-chan struct{} {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatalf("inotify_init1: %v", err)
	}
	if _, err := unix.InotifyAddWatch(fd, path, mask); err != nil {
		unix.Close(fd)
		t.Fatalf("watching %s: %v", path, err)
	}
	// Through os.File the read waits in the runtime's poller, and Close
	// ends it.
	f := os.NewFile(uintptr(fd), "inotify")
	t.Cleanup(func() { f.Close() })
	ch := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		if n, err := f.Read(buf); err == nil && n > 0 {
			close(ch)
		}
	}()
	return ch
}
