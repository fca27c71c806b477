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
	// The cgroup and the reaper stay with the parent; the child gets
	// plain data.
	cg, reaped := spec.Cgroup, spec.Reaped
	spec.Cgroup, spec.Reaped = nil, nil

	// Pdeathsig fires when the thread that forked the child exits, not the
	// process. Go ends a thread only when a goroutine exits while locked to
	// it; holding the thread for the child's lifetime keeps another
	// goroutine from doing that to it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	c, err := startChild(spec.Network, cg, stdin, stdout, stderr)
	if err != nil {
		return Result{}, fmt.Errorf("sandbox: %w", err)
	}
	defer c.closePipes()
	stop := context.AfterFunc(ctx, func() { _ = c.cmd.Process.Kill() })
	defer stop()
	// Resource limits, cgroup v1 (or a kernel without CLONE_INTO_CGROUP):
	// the child waits for its spec, so it runs nothing of the step
	// before it is moved into the group.
	if cg != nil && !c.cmd.SysProcAttr.UseCgroupFD {
		if err := cg.Join(c.cmd.Process.Pid); err != nil {
			c.kill()
			return Result{}, fmt.Errorf("sandbox: %w", err)
		}
	}
	// A private network is set up while the child builds its root: the
	// child waits for the spec pipe to close before it runs the command.
	var net *userNet
	gate := func() error {
		if spec.Network != NetworkPrivate {
			return nil
		}
		var err error
		net, err = startUserNet(c.cmd.Process.Pid)
		return err
	}
	r := c.exchange(&spec, gate)
	if net != nil {
		net.stop(reaped)
	}
	if r.gateErr != nil {
		return Result{}, fmt.Errorf("sandbox: %w", r.gateErr)
	}
	return r.result(ctx, c.cmd, spec.Args[0], cg)
}

// childRun is what the parent learned from a sandbox child that has
// exited.
type childRun struct {
	outcome childOutcome
	// sendErr, readErr and waitErr are the failures of sending the spec,
	// reading the reports and waiting for the child; gateErr is that of
	// readying what the child waits for besides its spec (its network).
	sendErr, readErr, waitErr, gateErr error
	// silent is set when the child sent nothing before setupTimeout.
	silent bool
}

// exchange sends spec to the child, runs gate while the child sets up,
// reads its reports until the command starts or setup fails, and waits for
// the child to exit. The child runs the command only once the spec pipe is
// closed, after gate; when gate fails, the child is killed.
func (c *child) exchange(spec *Spec, gate func() error) childRun {
	var r childRun
	// A child that died early makes this write fail with EPIPE; its report,
	// or its exit status, says more than that.
	r.sendErr = gob.NewEncoder(c.specW).Encode(spec)
	if r.sendErr == nil {
		r.gateErr = gate()
	}
	if err := c.specW.Close(); r.sendErr == nil {
		r.sendErr = err
	}
	if r.gateErr != nil {
		_ = c.cmd.Process.Kill()
	}
	// Setup takes milliseconds. A child that sends nothing for long is a
	// program that did not call Init and is running its own main instead.
	var silent atomic.Bool
	watchdog := time.AfterFunc(setupTimeout, func() {
		silent.Store(true)
		_ = c.cmd.Process.Kill()
	})
	r.outcome, r.readErr = readReports(c.reportR)
	watchdog.Stop()
	r.waitErr = c.cmd.Wait()
	r.silent = silent.Load()
	return r
}

// result says how the command name, run by cmd, ended, and why the run
// failed when it did.
func (r childRun) result(ctx context.Context, cmd *exec.Cmd, name string, cg Cgroup) (Result, error) {
	if r.silent && !r.outcome.ready {
		return Result{Stubs: r.outcome.stubs}, fmt.Errorf("sandbox: child sent no report within %s; is sandbox.Init called first in main?", setupTimeout)
	}
	res := Result{Stubs: r.outcome.stubs}
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
	case r.outcome.err != nil:
		return res, r.outcome.err
	case ctx.Err() != nil:
		return res, fmt.Errorf("sandbox: running %s: %w", name, ctx.Err())
	case r.readErr != nil:
		return res, fmt.Errorf("sandbox: %w", r.readErr)
	case !r.outcome.ready:
		if r.sendErr != nil {
			return res, fmt.Errorf("sandbox: sending spec to child: %w", r.sendErr)
		}
		return res, fmt.Errorf("sandbox: child exited during setup without a report (%s); is sandbox.Init called first in main?", cmd.ProcessState)
	}
	var exitErr *exec.ExitError
	if r.waitErr != nil && !errors.As(r.waitErr, &exitErr) {
		return res, fmt.Errorf("sandbox: waiting for %s: %w", name, r.waitErr)
	}
	return res, nil
}

// setupTimeout bounds how long the child may take to set the sandbox up.
const setupTimeout = 30 * time.Second

// exitStatus returns the exit code of the process st describes, or -1 and
// the signal that killed it.
func exitStatus(st *os.ProcessState) (int, syscall.Signal) {
	ws, ok := st.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		return -1, ws.Signal()
	}
	return st.ExitCode(), 0
}
