//go:build !linux

package gitsource

import (
	"os/exec"
	"syscall"
)

// runWithUmask runs cmd with the process's umask: only Linux can give a
// single thread a umask of its own.
func runWithUmask(cmd *exec.Cmd) error { return cmd.Run() }

// sysProcAttr starts git in a session of its own.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

// killGroup kills git.
func killGroup(cmd *exec.Cmd) error { return cmd.Process.Kill() }
