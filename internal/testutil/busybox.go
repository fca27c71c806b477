package testutil

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// BusyboxOptions shape the busybox test image.
type BusyboxOptions struct {
	// Users writes /etc/passwd (root; app 1000:1000 with home /home/app)
	// and /etc/group (root; wheel 10 with member app; app 1000).
	Users bool
	// Mountpoints adds /proc, /dev and /sys and the image's own
	// /etc/hosts ("image hosts\n") and /etc/hostname ("image\n"), so that
	// a sandbox needs to create none of them.
	Mountpoints bool
}

// BusyboxBinary returns the path of Debian's static busybox, extracted
// once from the busybox-static package into the package cache that
// scripts/busybox-base.sh uses ($BUSYBOX_DEB_CACHE, else
// $XDG_CACHE_HOME/builder or ~/.cache/builder), downloading the package
// there first when it is missing. The file is shared: callers must not
// change it.
func BusyboxBinary(t testing.TB) string {
	t.Helper()
	RequireTool(t, "dpkg-deb")
	cache := busyboxCache(t)
	deb := busyboxDeb(t, cache)
	dir := filepath.Join(cache, "extracted", strings.TrimSuffix(filepath.Base(deb), ".deb"))
	bb := filepath.Join(dir, "bin", "busybox")
	if _, err := os.Stat(bb); err == nil {
		return bb
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatalf("creating the busybox cache: %v", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".extract-")
	if err != nil {
		t.Fatalf("creating the busybox cache: %v", err)
	}
	defer os.RemoveAll(tmp)
	if out, err := exec.Command("dpkg-deb", "-x", deb, tmp).CombinedOutput(); err != nil {
		t.Fatalf("extracting %s: %v\n%s", deb, err, out)
	}
	if _, err := os.Stat(filepath.Join(tmp, "bin", "busybox")); err != nil {
		t.Fatalf("%s holds no bin/busybox: %v", deb, err)
	}
	// Another test process may have extracted the same package first.
	if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, fs.ErrExist) && !errors.Is(err, syscall.ENOTEMPTY) {
		t.Fatalf("storing the extracted busybox: %v", err)
	}
	return bb
}

func busyboxCache(t testing.TB) string {
	t.Helper()
	if c := os.Getenv("BUSYBOX_DEB_CACHE"); c != "" {
		return c
	}
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatalf("locating the package cache: %v", err)
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "builder")
}

// busyboxDeb returns the cached busybox-static package, downloading it
// when the cache has none (updating the package lists once if the first
// download fails, as a fresh machine has none).
func busyboxDeb(t testing.TB, cache string) string {
	t.Helper()
	if debs, _ := filepath.Glob(filepath.Join(cache, "busybox-static_*.deb")); len(debs) > 0 {
		return debs[0]
	}
	RequireTool(t, "apt-get")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatalf("creating the package cache: %v", err)
	}
	download := func() ([]byte, error) {
		cmd := exec.Command("apt-get", "download", "busybox-static")
		cmd.Dir = cache
		return cmd.CombinedOutput()
	}
	if _, err := download(); err != nil {
		if out, err := exec.Command("apt-get", "update").CombinedOutput(); err != nil {
			t.Fatalf("updating the package lists: %v\n%s", err, out)
		}
		if out, err := download(); err != nil {
			t.Fatalf("downloading busybox-static: %v\n%s", err, out)
		}
	}
	debs, _ := filepath.Glob(filepath.Join(cache, "busybox-static_*.deb"))
	if len(debs) == 0 {
		t.Fatalf("apt-get download left no busybox-static package in %s", cache)
	}
	return debs[0]
}

// BusyboxEntries is a small busybox root filesystem: /bin/busybox with
// one relative symlink per applet in /bin, /tmp (1777), /root (0700) and
// /home/app (owned by 1000:1000), plus what o asks for.
func BusyboxEntries(t testing.TB, o BusyboxOptions) []Entry {
	t.Helper()
	bb := BusyboxBinary(t)
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatalf("reading busybox: %v", err)
	}
	list, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatalf("listing busybox applets: %v", err)
	}
	entries := []Entry{
		{Path: "bin/busybox", Body: string(data), Mode: 0o755},
		{Path: "tmp", Dir: true, Mode: fs.ModeSticky | 0o777},
		{Path: "root", Dir: true, Mode: 0o700},
		{Path: "home/app", Dir: true, UID: 1000, GID: 1000},
	}
	for _, applet := range strings.Fields(string(list)) {
		if applet != "busybox" {
			entries = append(entries, Symlink("bin/"+applet, "busybox"))
		}
	}
	if o.Users {
		entries = append(entries,
			File("etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n"),
			File("etc/group", "root:x:0:\nwheel:x:10:app\napp:x:1000:\n"))
	}
	if o.Mountpoints {
		entries = append(entries, Dir("proc"), Dir("dev"), Dir("sys"),
			File("etc/hosts", "image hosts\n"), File("etc/hostname", "image\n"))
	}
	return entries
}

// WriteBusyboxRootfs writes BusyboxEntries into dir, which the caller owns
// and may change.
func WriteBusyboxRootfs(t testing.TB, dir string, o BusyboxOptions) {
	t.Helper()
	WriteTree(t, dir, BusyboxEntries(t, o)...)
}
