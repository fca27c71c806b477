package sandbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// ioDrainDelay bounds how long Run waits for output copying after the
// command exits; every process of the step is dead by then, so only a
// descriptor smuggled out of the sandbox could keep a pipe open.
const ioDrainDelay = 5 * time.Second

// child is a started sandbox child with the parent's ends of its pipes.
type child struct {
	cmd     *exec.Cmd
	specW   *os.File
	reportR *os.File
}

// startChild re-executes this program as a sandbox child in new
// namespaces (and, where the kernel can, in cg), connected to stdin,
// stdout and stderr. The child waits for its spec before it does anything.
func startChild(network Network, cg Cgroup, stdin io.Reader, stdout, stderr io.Writer) (*child, error) {
	specR, specW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("creating spec pipe: %w", err)
	}
	reportR, reportW, err := os.Pipe()
	if err != nil {
		_ = specR.Close()
		_ = specW.Close()
		return nil, fmt.Errorf("creating report pipe: %w", err)
	}
	c := &child{specW: specW, reportR: reportR}
	c.cmd = &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{"ocibuilder-sandbox"},
		Env:        []string{childEnv + "=" + childValue},
		Stdin:      stdin,
		Stdout:     stdout,
		Stderr:     stderr,
		ExtraFiles: []*os.File{specR, reportW}, // fds 3 and 4
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: cloneFlags(network),
			Pdeathsig:  syscall.SIGKILL,
		},
		WaitDelay: ioDrainDelay,
	}
	// Resource limits, cgroup v2: the child is cloned into its group.
	cgDir, err := cloneIntoCgroup(cg, c.cmd.SysProcAttr)
	if err != nil {
		_ = specR.Close()
		_ = reportW.Close()
		c.closePipes()
		return nil, err
	}
	startErr := c.cmd.Start()
	if cgDir != nil && cloneIntoUnsupported(startErr) {
		c.cmd = withoutCgroupFD(c.cmd)
		startErr = c.cmd.Start()
	}
	// The child holds its own copies now; the parent's would keep the
	// report pipe open past the child's exec.
	closeErr := errors.Join(specR.Close(), reportW.Close(), closeCgroupDir(cgDir))
	if startErr != nil {
		c.closePipes()
		return nil, fmt.Errorf("starting child: %w", startErr)
	}
	if closeErr != nil {
		c.kill()
		c.closePipes()
		return nil, fmt.Errorf("closing child's pipe ends: %w", closeErr)
	}
	return c, nil
}

// closePipes closes the parent's ends of the pipes. Their errors do not
// matter: the child is gone or about to be by then, and each end was read
// or written to the end already.
func (c *child) closePipes() {
	_ = c.specW.Close()
	_ = c.reportR.Close()
}

// kill stops a started child and reaps it, for failures before it got its
// spec.
func (c *child) kill() {
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
}

// cloneFlags are the namespaces the child is cloned into; without the
// host's network, a network namespace of its own too.
func cloneFlags(n Network) uintptr {
	f := uintptr(syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC)
	if n != NetworkHost {
		f |= syscall.CLONE_NEWNET
	}
	return f
}

// Resource limits (cgroups): how the child starts in its group.

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

// closeCgroupDir closes what cloneIntoCgroup opened, if anything.
func closeCgroupDir(dir *os.File) error {
	if dir == nil {
		return nil
	}
	return dir.Close()
}
