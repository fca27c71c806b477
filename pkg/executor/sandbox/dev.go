package sandbox

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// device is a character device every container gets in /dev.
type device struct {
	name         string
	major, minor uint32
}

func devices() []device {
	return []device{
		{"null", 1, 3},
		{"zero", 1, 5},
		{"full", 1, 7},
		{"random", 1, 8},
		{"urandom", 1, 9},
		{"tty", 5, 0},
	}
}

type devSymlink struct{ name, target string }

func devSymlinks() []devSymlink {
	return []devSymlink{
		{"fd", "/proc/self/fd"},
		{"stdin", "/proc/self/fd/0"},
		{"stdout", "/proc/self/fd/1"},
		{"stderr", "/proc/self/fd/2"},
		{"ptmx", "pts/ptmx"},
		{"core", "/proc/kcore"},
	}
}

// mountDev builds a minimal /dev on a fresh tmpfs: the standard character
// devices, a private devpts instance and a /dev/shm. The tmpfs is nodev, so
// a node a step makes there cannot be opened; the standard devices are the
// host's own nodes bound onto it, and a bind keeps its source's flags.
func mountDev(dev string) error {
	if err := unix.Mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_STRICTATIME, "mode=755,size=65536k"); err != nil {
		return fmt.Errorf("mounting /dev: %w", err)
	}
	for _, d := range devices() {
		if err := makeDevice(filepath.Join(dev, d.name), d); err != nil {
			return err
		}
	}
	pts := filepath.Join(dev, "pts")
	if err := os.Mkdir(pts, 0o755); err != nil {
		return fmt.Errorf("creating /dev/pts: %w", err)
	}
	if err := unix.Mount("devpts", pts, "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"); err != nil {
		return fmt.Errorf("mounting /dev/pts: %w", err)
	}
	shm := filepath.Join(dev, "shm")
	if err := os.Mkdir(shm, 0o1777); err != nil {
		return fmt.Errorf("creating /dev/shm: %w", err)
	}
	if err := unix.Mount("shm", shm, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size=65536k"); err != nil {
		return fmt.Errorf("mounting /dev/shm: %w", err)
	}
	for _, l := range devSymlinks() {
		if err := os.Symlink(l.target, filepath.Join(dev, l.name)); err != nil {
			return fmt.Errorf("creating /dev/%s: %w", l.name, err)
		}
	}
	return nil
}

// makeDevice bind-mounts the host's node for d onto an empty file at p,
// after checking that the host's node is the device it should be.
func makeDevice(p string, d device) error {
	src := "/dev/" + d.name
	var st unix.Stat_t
	if err := unix.Stat(src, &st); err != nil {
		return fmt.Errorf("inspecting %s: %w", src, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != d.major || unix.Minor(st.Rdev) != d.minor {
		return fmt.Errorf("%s is not the character device %d:%d", src, d.major, d.minor)
	}
	if err := createEmptyFile(p); err != nil {
		return fmt.Errorf("creating /dev/%s: %w", d.name, err)
	}
	if err := unix.Mount(src, p, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mounting %s: %w", src, err)
	}
	return nil
}

// writeDevFiles puts the spec's executable files into dev/pipes.
func writeDevFiles(dev string, files map[string][]byte) error {
	if len(files) == 0 {
		return nil
	}
	dir := filepath.Join(dev, "pipes")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("creating /dev/pipes: %w", err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o755); err != nil {
			return fmt.Errorf("writing /dev/pipes/%s: %w", name, err)
		}
	}
	return nil
}
