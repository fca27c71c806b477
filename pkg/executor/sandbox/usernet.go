package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrNoUserNetwork is wrapped by the errors of a NetworkPrivate sandbox on
// a host without slirp4netns.
var ErrNoUserNetwork = errors.New("no user-mode network helper: install slirp4netns (Debian package slirp4netns), or use the host's network (--network host)")

// UserNetwork addresses, as slirp4netns gives them: the step's own
// address, its gateway and the DNS forwarder.
const (
	UserNetworkAddr    = "10.0.2.100"
	UserNetworkGateway = "10.0.2.2"
	UserNetworkDNS     = "10.0.2.3"
)

// userNetReadyTimeout bounds how long the helper may take to set up the
// step's interface.
const userNetReadyTimeout = 10 * time.Second

// UserNetworkAvailable reports whether NetworkPrivate sandboxes can be
// made here: slirp4netns must be installed.
func UserNetworkAvailable() error {
	if _, err := exec.LookPath("slirp4netns"); err != nil {
		return ErrNoUserNetwork
	}
	return nil
}

// userNet is the user-mode network helper of one sandbox.
type userNet struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
}

// startUserNet gives the network namespace of process pid an interface
// with outbound access through slirp4netns, and waits until it is set up.
// The host's loopback is not reachable through it: the gateway address
// does not lead to the host's 127.0.0.1.
func startUserNet(pid int) (*userNet, error) {
	path, err := exec.LookPath("slirp4netns")
	if err != nil {
		return nil, ErrNoUserNetwork
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("user network: %w", err)
	}
	defer readyR.Close()
	u := &userNet{}
	u.cmd = exec.Command(path, "--configure", "--mtu=65520", "--disable-host-loopback",
		"--ready-fd=3", strconv.Itoa(pid), "tap0")
	u.cmd.ExtraFiles = []*os.File{readyW}
	u.cmd.Stdout, u.cmd.Stderr = &u.stderr, &u.stderr
	u.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = u.cmd.Start()
	readyW.Close()
	if err != nil {
		return nil, fmt.Errorf("user network: starting slirp4netns: %w", err)
	}
	if err := readyR.SetReadDeadline(time.Now().Add(userNetReadyTimeout)); err != nil {
		u.stop(nil)
		return nil, fmt.Errorf("user network: %w", err)
	}
	buf := make([]byte, 1)
	if _, err := readyR.Read(buf); err != nil {
		u.stop(nil)
		return nil, fmt.Errorf("user network: slirp4netns did not come up: %v: %s", err, strings.TrimSpace(u.stderr.String()))
	}
	return u, nil
}

// stop ends the helper; the namespace it served is gone or going. With
// reaped set, the helper is killed at once but waited for in the
// background, counted on reaped: its exit closes the namespace's last
// interface, which takes the kernel tens of milliseconds the step need not
// wait for.
func (u *userNet) stop(reaped Reaper) {
	_ = u.cmd.Process.Kill()
	if reaped == nil {
		_ = u.cmd.Wait()
		return
	}
	reaped.Add(1)
	go func() {
		defer reaped.Done()
		_ = u.cmd.Wait()
	}()
}
