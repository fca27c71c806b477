package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// defaultCaps is Docker's default capability set, as a bit mask
// (0x00000000a80425fb).
const defaultCaps uint64 = 1<<unix.CAP_CHOWN |
	1<<unix.CAP_DAC_OVERRIDE |
	1<<unix.CAP_FSETID |
	1<<unix.CAP_FOWNER |
	1<<unix.CAP_MKNOD |
	1<<unix.CAP_NET_RAW |
	1<<unix.CAP_SETGID |
	1<<unix.CAP_SETUID |
	1<<unix.CAP_SETFCAP |
	1<<unix.CAP_SETPCAP |
	1<<unix.CAP_NET_BIND_SERVICE |
	1<<unix.CAP_SYS_CHROOT |
	1<<unix.CAP_KILL |
	1<<unix.CAP_AUDIT_WRITE

// makeCwd creates the missing directories of cwd (already inside the new
// root), owned by the step's user so it can work there.
func makeCwd(cwd string, uid, gid uint32) error {
	cur := "/"
	for _, name := range strings.Split(strings.TrimPrefix(filepath.Clean(cwd), "/"), "/") {
		if name == "" {
			continue
		}
		cur = filepath.Join(cur, name)
		fi, err := os.Stat(cur)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("creating working directory %s: %s is not a directory", cwd, cur)
			}
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("creating working directory %s: %w", cwd, err)
		}
		if err := os.Mkdir(cur, 0o755); err != nil {
			return fmt.Errorf("creating working directory %s: %w", cwd, err)
		}
		if err := os.Lchown(cur, int(uid), int(gid)); err != nil {
			return fmt.Errorf("creating working directory %s: %w", cwd, err)
		}
	}
	return nil
}

// dropPrivileges switches to the step's user and groups and confines the
// calling thread, which will exec the command, to Docker's default
// capabilities (every capability when insecure) with no_new_privs set.
// Capabilities are per thread; the caller is locked to its thread.
func dropPrivileges(uid, gid uint32, groups []uint32, insecure bool) error {
	keep := uint64(defaultCaps)
	if insecure {
		all, err := allCaps()
		if err != nil {
			return err
		}
		keep = all
	}
	// Dropping from the bounding set needs CAP_SETPCAP, which a non-root
	// user loses at setuid below.
	if err := limitBoundingSet(keep); err != nil {
		return err
	}
	gids := make([]int, len(groups))
	for i, g := range groups {
		gids[i] = int(g)
	}
	if err := unix.Setgroups(gids); err != nil {
		return fmt.Errorf("setting supplementary groups: %w", err)
	}
	if err := unix.Setresgid(int(gid), int(gid), int(gid)); err != nil {
		return fmt.Errorf("setting group %d: %w", gid, err)
	}
	if err := unix.Setresuid(int(uid), int(uid), int(uid)); err != nil {
		return fmt.Errorf("setting user %d: %w", uid, err)
	}
	// setuid away from 0 already emptied the effective and permitted sets.
	caps := keep
	if uid != 0 {
		caps = 0
	}
	if err := setCaps(caps); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("clearing ambient capabilities: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("setting no_new_privs: %w", err)
	}
	return nil
}

// allCaps is every capability the sandbox itself holds: the most a step
// can be given (all the kernel knows when the builder runs as real root).
func allCaps() (uint64, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, fmt.Errorf("reading capabilities: %w", err)
	}
	return uint64(data[0].Permitted) | uint64(data[1].Permitted)<<32, nil
}

// limitBoundingSet drops every capability outside keep from the bounding
// set, up to the last one this kernel knows (PR_CAPBSET_READ fails past it).
func limitBoundingSet(keep uint64) error {
	for c := 0; c < 64; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0); err != nil {
			if errors.Is(err, unix.EINVAL) {
				return nil
			}
			return fmt.Errorf("reading bounding capability %d: %w", c, err)
		}
		if keep&(1<<c) != 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			return fmt.Errorf("dropping bounding capability %d: %w", c, err)
		}
	}
	return nil
}

// setCaps sets the effective and permitted sets to caps and empties the
// inheritable set: with one, a file's inheritable capabilities would be
// granted across exec beyond what the bounding set shows (CVE-2022-24769).
func setCaps(caps uint64) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	for i := range data {
		word := uint32(caps >> (32 * i))
		data[i] = unix.CapUserData{Effective: word, Permitted: word}
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("setting capabilities: %w", err)
	}
	return nil
}
