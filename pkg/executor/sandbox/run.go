package sandbox

import (
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
)

// childEnv marks the re-executed process as a sandbox child for Init. The
// child's environment holds nothing else, and the command gets Spec.Env, so
// the marker never reaches the step.
const (
	childEnv   = "_OCIBUILDER_SANDBOX_CHILD"
	childValue = "1"
)

// ioDrainDelay bounds how long Run waits for output copying after the
// command exits; every process of the step is dead by then, so only a
// descriptor smuggled out of the sandbox could keep a pipe open.
const ioDrainDelay = 5 * time.Second

// Run runs spec.Args in a new sandbox and waits for it to exit, passing
// stdin, stdout and stderr through (nil ones are connected to /dev/null).
//
// A non-zero exit is not an error: Result says how the command ended. Errors
// are for specs Run refuses (wrapping ErrInvalidSpec or ErrOverlayTooLong),
// failures to start the child, and failures of the sandbox setup, returned as
// *SetupError. When ctx is done the whole step is killed (SIGKILL to its PID
// 1 takes the PID namespace with it) and the error wraps ctx.Err(). The
// program must have called Init at the top of main; if it did not, Run
// starts nothing and its error wraps ErrNoInit.
func Run(ctx context.Context, spec Spec, stdin io.Reader, stdout, stderr io.Writer) (Result, error) {
	if err := Initialized(); err != nil {
		return Result{}, fmt.Errorf("sandbox: %w", err)
	}
	spec, err := spec.normalize()
	if err != nil {
		return Result{}, fmt.Errorf("sandbox: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("sandbox: starting %s: %w", spec.Args[0], err)
	}
	// The cgroup stays with the parent; the child gets plain data.
	cg := spec.Cgroup
	spec.Cgroup = nil

	specR, specW, err := os.Pipe()
	if err != nil {
		return Result{}, fmt.Errorf("sandbox: creating spec pipe: %w", err)
	}
	defer specW.Close()
	reportR, reportW, err := os.Pipe()
	if err != nil {
		_ = specR.Close()
		return Result{}, fmt.Errorf("sandbox: creating report pipe: %w", err)
	}
	defer reportR.Close()

	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{"ocibuilder-sandbox"},
		Env:        []string{childEnv + "=" + childValue},
		Stdin:      stdin,
		Stdout:     stdout,
		Stderr:     stderr,
		ExtraFiles: []*os.File{specR, reportW}, // fds 3 and 4
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: cloneFlags(spec.Network),
			Pdeathsig:  syscall.SIGKILL,
		},
		WaitDelay: ioDrainDelay,
	}

	// Pdeathsig fires when the thread that forked the child exits, not the
	// process. Go ends a thread only when a goroutine exits while locked to
	// it; holding the thread for the child's lifetime keeps another
	// goroutine from doing that to it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	// Resource limits, cgroup v2: the child is cloned into its group.
	cgDir, cgErr := cloneIntoCgroup(cg, cmd.SysProcAttr)
	if cgErr != nil {
		_ = specR.Close()
		_ = reportW.Close()
		return Result{}, fmt.Errorf("sandbox: %w", cgErr)
	}
	startErr := cmd.Start()
	if cgDir != nil && cloneIntoUnsupported(startErr) {
		cmd = withoutCgroupFD(cmd)
		startErr = cmd.Start()
	}
	// The child holds its own copies now; the parent's would keep the
	// report pipe open past the child's exec.
	closeErr := errors.Join(specR.Close(), reportW.Close(), closeCgroupDir(cgDir))
	if startErr != nil {
		return Result{}, fmt.Errorf("sandbox: starting child: %w", startErr)
	}
	stop := context.AfterFunc(ctx, func() { _ = cmd.Process.Kill() })
	defer stop()
	if closeErr != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return Result{}, fmt.Errorf("sandbox: closing child's pipe ends: %w", closeErr)
	}
	// Resource limits, cgroup v1 (or a kernel without CLONE_INTO_CGROUP):
	// the child waits for its spec, so it runs nothing of the step
	// before it is moved into the group.
	if cg != nil && !cmd.SysProcAttr.UseCgroupFD {
		if err := cg.Join(cmd.Process.Pid); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return Result{}, fmt.Errorf("sandbox: %w", err)
		}
	}

	// A child that died early makes this write fail with EPIPE; its report,
	// or its exit status, says more than that.
	sendErr := gob.NewEncoder(specW).Encode(&spec)
	if err := specW.Close(); sendErr == nil {
		sendErr = err
	}
	// Setup takes milliseconds. A child that sends nothing for long is a
	// program that did not call Init and is running its own main instead.
	var silent atomic.Bool
	watchdog := time.AfterFunc(setupTimeout, func() {
		silent.Store(true)
		_ = cmd.Process.Kill()
	})
	outcome, readErr := readReports(reportR)
	watchdog.Stop()
	waitErr := cmd.Wait()
	if silent.Load() && !outcome.ready {
		return Result{Stubs: outcome.stubs}, fmt.Errorf("sandbox: child sent no report within %s; is sandbox.Init called first in main?", setupTimeout)
	}

	res := Result{Stubs: outcome.stubs}
	if st := cmd.ProcessState; st != nil {
		res.ExitCode, res.Signal = exitStatus(st)
	}
	if cg != nil {
		oom, err := cg.OOMKilled()
		if err != nil {
			return res, fmt.Errorf("sandbox: %w", err)
		}
		res.OOMKilled = oom
	}
	switch {
	case outcome.err != nil:
		return res, outcome.err
	case ctx.Err() != nil:
		return res, fmt.Errorf("sandbox: running %s: %w", spec.Args[0], ctx.Err())
	case readErr != nil:
		return res, fmt.Errorf("sandbox: %w", readErr)
	case !outcome.ready:
		if sendErr != nil {
			return res, fmt.Errorf("sandbox: sending spec to child: %w", sendErr)
		}
		return res, fmt.Errorf("sandbox: child exited during setup without a report (%s); is sandbox.Init called first in main?", cmd.ProcessState)
	}
	var exitErr *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exitErr) {
		return res, fmt.Errorf("sandbox: waiting for %s: %w", spec.Args[0], waitErr)
	}
	return res, nil
}

// setupTimeout bounds how long the child may take to set the sandbox up.
const setupTimeout = 30 * time.Second

func cloneFlags(n Network) uintptr {
	f := uintptr(syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC)
	if n == NetworkNone {
		f |= syscall.CLONE_NEWNET
	}
	return f
}

func exitStatus(st *os.ProcessState) (int, syscall.Signal) {
	ws, ok := st.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		return -1, ws.Signal()
	}
	return st.ExitCode(), 0
}

// Resource limits (cgroups): helpers of Run.

// cloneIntoCgroup sets attr up to start the child inside cg where the
// kernel can (cgroup v2) and returns the directory to close after the start.
func cloneIntoCgroup(cg Cgroup, attr *syscall.SysProcAttr) (*os.File, error) {
	if cg == nil {
		return nil, nil
	}
	dir, err := cg.CloneInto()
	if err != nil || dir == nil {
		return nil, err
	}
	attr.UseCgroupFD = true
	attr.CgroupFD = int(dir.Fd())
	return dir, nil
}

// cloneIntoUnsupported reports whether Start failed because the kernel has
// no clone3 (before 5.3) or no CLONE_INTO_CGROUP (before 5.7).
func cloneIntoUnsupported(err error) bool {
	return errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.E2BIG) || errors.Is(err, syscall.EINVAL)
}

// withoutCgroupFD returns an unstarted copy of cmd that is not cloned into a
// cgroup: an exec.Cmd cannot be started twice.
func withoutCgroupFD(cmd *exec.Cmd) *exec.Cmd {
	attr := *cmd.SysProcAttr
	attr.UseCgroupFD, attr.CgroupFD = false, 0
	return &exec.Cmd{
		Path:        cmd.Path,
		Args:        cmd.Args,
		Env:         cmd.Env,
		Dir:         cmd.Dir,
		Stdin:       cmd.Stdin,
		Stdout:      cmd.Stdout,
		Stderr:      cmd.Stderr,
		ExtraFiles:  cmd.ExtraFiles,
		SysProcAttr: &attr,
		WaitDelay:   cmd.WaitDelay,
	}
}

func closeCgroupDir(dir *os.File) error {
	if dir == nil {
		return nil
	}
	return dir.Close()
}
