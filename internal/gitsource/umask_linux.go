package gitsource

import (
	"fmt"
	"os/exec"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// runWithUmask runs cmd from an OS thread of its own whose umask is 022,
// as BuildKit runs git: checked out files are 0644 or 0755 and
// directories 0755 whatever the builder's umask. The thread leaves the
// process's umask alone (it shares no filesystem attributes once
// unshared) and ends with the goroutine, never to run other code.
func runWithUmask(cmd *exec.Cmd) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // not unlocked: the thread exits with the goroutine
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		unix.Umask(0o022)
		errc <- cmd.Run()
	}()
	return <-errc
}

// sysProcAttr starts git in a session of its own: it has no terminal to
// prompt on, and killGroup reaches the helpers it starts.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true}
}

// killGroup kills git and the helpers it started.
func killGroup(cmd *exec.Cmd) error {
	return unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
}
