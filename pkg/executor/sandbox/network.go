package sandbox

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// loopbackUp brings up lo, which a new network namespace starts with down.
func loopbackUp() (err error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening socket for lo: %w", err)
	}
	defer func() { err = errors.Join(err, closeFD(fd, "lo socket")) }()
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("naming lo: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("reading lo flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bringing lo up: %w", err)
	}
	return nil
}
