package sandbox

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// dyingBuilderEnv carries, JSON-encoded, the spec a helper copy of the test
// binary runs while playing a builder that gets killed.
const dyingBuilderEnv = "SANDBOX_TEST_DYING_BUILDER_SPEC"

func TestDyingBuilderTakesTheStep(t *testing.T) {
	if enc := os.Getenv(dyingBuilderEnv); enc != "" {
		var spec Spec
		if err := json.Unmarshal([]byte(enc), &spec); err != nil {
			t.Fatal(err)
		}
		_, err := Run(context.Background(), spec, nil, os.Stdout, os.Stderr)
		t.Fatalf("the step ended while its builder was alive: %v", err)
	}

	f := newFixture(t, "overlay", rootfsOptions{})
	enc, err := json.Marshal(f.spec(t, "sleep 4343 & sleep 4343 & echo ready; wait"))
	if err != nil {
		t.Fatal(err)
	}
	builder := exec.Command(os.Args[0], "-test.run=^TestDyingBuilderTakesTheStep$", "-test.count=1")
	builder.Env = append(os.Environ(), dyingBuilderEnv+"="+string(enc))
	builder.Stderr = os.Stderr
	out, err := builder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := builder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = builder.Process.Kill(); _ = builder.Wait() })
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("waiting for the step: %q, %v", line, err)
	}
	pidfds := waitSleepers(t, "sleep\x004343\x00", 2)
	if len(pidfds) != 2 {
		t.Fatalf("found %d sleeps of the step on the host, want 2", len(pidfds))
	}
	t.Cleanup(func() { killStepOf(pidfds) })
	if err := builder.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = builder.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for _, fd := range pidfds {
		for {
			err := unix.PidfdSendSignal(fd, 0, nil, 0)
			if errors.Is(err, unix.ESRCH) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("a sleep of the step outlived its builder by 5s (signal 0: %v)", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// killStepOf kills the PID 1 of the namespace the processes behind pidfds
// live in, so a failing test leaves no step behind; it is a no-op once they
// are gone.
func killStepOf(pidfds []int) {
	for _, fd := range pidfds {
		info, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", fd))
		if err == nil {
			if pid, ok := statusField(string(info), "Pid"); ok && pid > 0 {
				if status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
					if ppid, ok := statusField(string(status), "PPid"); ok {
						_ = unix.Kill(ppid, unix.SIGKILL)
					}
				}
			}
		}
		_ = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
		_ = unix.Close(fd)
	}
}

func statusField(text, key string) (int, bool) {
	for _, l := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			return n, err == nil
		}
	}
	return 0, false
}
