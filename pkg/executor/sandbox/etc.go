package sandbox

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/ocibuilder/builder/internal/fsutil"
	"golang.org/x/sys/unix"
)

// etcFiles are the generated files in the state directory that are bound
// over the image's /etc/hosts, /etc/resolv.conf and /etc/hostname, so the
// step sees them but its layer never contains them.
type etcFiles struct {
	hosts, resolvConf, hostname string
}

func writeEtcFiles(spec *Spec) (etcFiles, error) {
	f := etcFiles{
		hosts:      filepath.Join(spec.StateDir, "hosts"),
		resolvConf: filepath.Join(spec.StateDir, "resolv.conf"),
		hostname:   filepath.Join(spec.StateDir, "hostname"),
	}
	for _, w := range []struct {
		path string
		data []byte
	}{
		{f.hosts, spec.Hosts},
		{f.resolvConf, spec.ResolvConf},
		{f.hostname, []byte(spec.Hostname + "\n")},
	} {
		err := fsutil.WriteFileAtomic(w.path, 0o644, func(out io.Writer) error {
			_, err := out.Write(w.data)
			return err
		})
		if err != nil {
			return f, fmt.Errorf("writing %s: %w", filepath.Base(w.path), err)
		}
	}
	return f, nil
}

func bindEtcFiles(f etcFiles, mp mountpoints) error {
	for _, b := range []struct{ src, dst, name string }{
		{f.hosts, mp.hosts, "/etc/hosts"},
		{f.resolvConf, mp.resolvConf, "/etc/resolv.conf"},
		{f.hostname, mp.hostname, "/etc/hostname"},
	} {
		if err := unix.Mount(b.src, b.dst, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind-mounting %s: %w", b.name, err)
		}
		if err := addMountAttrs(b.dst, unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NOEXEC); err != nil {
			return fmt.Errorf("bind-mounting %s: %w", b.name, err)
		}
	}
	return nil
}
