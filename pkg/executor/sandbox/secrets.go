package sandbox

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// checkSecrets refuses secret paths no mount could honour: relative,
// unclean (the step would find the file elsewhere than asked), the root
// itself, or named twice (the second mount would hide the first).
func checkSecrets(secrets []SecretFile) error {
	seen := make(map[string]bool, len(secrets))
	for _, s := range secrets {
		switch {
		case strings.ContainsRune(s.Path, 0):
			return fmt.Errorf("%w: secret path %q contains a NUL byte", ErrInvalidSpec, s.Path)
		case !path.IsAbs(s.Path) || path.Clean(s.Path) != s.Path:
			return fmt.Errorf("%w: secret path %q is not absolute and clean", ErrInvalidSpec, s.Path)
		case s.Path == "/":
			return fmt.Errorf("%w: secret path is the root", ErrInvalidSpec)
		case s.Mode&^os.ModePerm != 0:
			return fmt.Errorf("%w: secret %s: mode %v has more than permission bits", ErrInvalidSpec, s.Path, s.Mode)
		case seen[s.Path]:
			return fmt.Errorf("%w: two secrets at %s", ErrInvalidSpec, s.Path)
		}
		seen[s.Path] = true
	}
	return nil
}

// mountSecrets writes the secrets to a tmpfs at StateDir/secrets, mounted
// in the child's mount namespace only (its parent is a slave, so nothing
// propagates back), and binds each file read-only at its path inside
// root. Once pivot_root detaches the old root, the binds are the only way
// to the tmpfs, and it disappears with the namespace.
func mountSecrets(spec *Spec, root string, st *stubs) error {
	if len(spec.Secrets) == 0 {
		return nil
	}
	dir := filepath.Join(spec.StateDir, "secrets")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("creating secrets mountpoint: %w", err)
	}
	// Each file takes whole pages; one more page per file leaves room
	// for rounding.
	size := 0
	for _, s := range spec.Secrets {
		size += len(s.Data) + 2*pageSize()
	}
	opts := "mode=0700,size=" + strconv.Itoa(size)
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, opts); err != nil {
		return fmt.Errorf("mounting secrets tmpfs: %w", err)
	}
	for i, s := range spec.Secrets {
		src := filepath.Join(dir, strconv.Itoa(i))
		if err := writeSecret(src, s); err != nil {
			return err
		}
		dst, err := ensureMountpoint(root, strings.TrimPrefix(s.Path, "/"), false, st)
		if err != nil {
			return fmt.Errorf("secret %s: %w", s.Path, err)
		}
		if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind-mounting secret %s: %w", s.Path, err)
		}
		ro := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
		if err := unix.Mount("", dst, "", ro, ""); err != nil {
			return fmt.Errorf("making secret %s read-only: %w", s.Path, err)
		}
	}
	return nil
}

// writeSecret creates the secret's file on the tmpfs with its owner and
// mode.
func writeSecret(p string, s SecretFile) (err error) {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, s.Mode)
	if err != nil {
		return fmt.Errorf("creating secret %s: %w", s.Path, err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("writing secret %s: %w", s.Path, cerr)
		}
	}()
	if _, err := f.Write(s.Data); err != nil {
		return fmt.Errorf("writing secret %s: %w", s.Path, err)
	}
	// Explicitly, not through the umask-dependent create.
	if err := f.Chown(int(s.UID), int(s.GID)); err != nil {
		return fmt.Errorf("chowning secret %s: %w", s.Path, err)
	}
	if err := f.Chmod(s.Mode); err != nil {
		return fmt.Errorf("chmoding secret %s: %w", s.Path, err)
	}
	return nil
}
