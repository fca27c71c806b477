package sandbox

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ocibuilder/builder/internal/testutil"
)

// busyboxBinary returns a path to Debian's static busybox, extracted from the
// busybox-static package (downloaded into the same cache the repository's
// scripts use, when not there yet).
func busyboxBinary(t *testing.T) string {
	t.Helper()
	testutil.RequireTool(t, "dpkg-deb")
	cache := os.Getenv("BUSYBOX_DEB_CACHE")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				t.Fatalf("locating the package cache: %v", err)
			}
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "builder")
	}
	debs, _ := filepath.Glob(filepath.Join(cache, "busybox-static_*.deb"))
	if len(debs) == 0 {
		testutil.RequireTool(t, "apt-get")
		if err := os.MkdirAll(cache, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("apt-get", "download", "busybox-static")
		cmd.Dir = cache
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("downloading busybox-static (run apt-get update?): %v\n%s", err, out)
		}
		debs, _ = filepath.Glob(filepath.Join(cache, "busybox-static_*.deb"))
		if len(debs) == 0 {
			t.Fatalf("apt-get download left no busybox-static package in %s", cache)
		}
	}
	dir := t.TempDir()
	if out, err := exec.Command("dpkg-deb", "-x", debs[0], dir).CombinedOutput(); err != nil {
		t.Fatalf("extracting %s: %v\n%s", debs[0], err, out)
	}
	return filepath.Join(dir, "bin", "busybox")
}

// rootfsOptions shape the test image.
type rootfsOptions struct {
	// bare leaves out /proc, /dev, /sys and /etc, so the sandbox must create
	// them.
	bare bool
}

// makeBusyboxRootfs builds a small image directory: busybox with one symlink
// per applet in /bin, a passwd and group file, /tmp, and (unless bare) the
// usual mountpoints and an /etc/hosts of its own.
func makeBusyboxRootfs(t *testing.T, bb, dir string, o rootfsOptions) {
	t.Helper()
	mkdirs(t, dir, "bin", "tmp", "root", "home/app")
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "bin/busybox"), string(data), 0o755)
	list, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatalf("listing busybox applets: %v", err)
	}
	for _, applet := range strings.Fields(string(list)) {
		if applet == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", applet)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
	if o.bare {
		return
	}
	mkdirs(t, dir, "proc", "dev", "sys", "etc")
	writeFile(t, filepath.Join(dir, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n", 0o644)
	writeFile(t, filepath.Join(dir, "etc/group"), "root:x:0:\nwheel:x:10:app\napp:x:1000:\n", 0o644)
	writeFile(t, filepath.Join(dir, "etc/hosts"), "image hosts\n", 0o644)
	writeFile(t, filepath.Join(dir, "etc/hostname"), "image\n", 0o644)
}

func mkdirs(t *testing.T, root string, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func writeFile(t *testing.T, p, data string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}

// fixture is one root filesystem under test.
type fixture struct {
	kind  string // "overlay" or "dir"
	dir   string // the test's scratch directory
	image string // the busybox image directory (overlay lower, or the root)
	upper string
	work  string
}

func fixtureKinds() []string { return []string{"overlay", "dir"} }

// newFixture makes a fresh image of the given kind and checks, when the test
// ends, that no mount of its directories is left in this mount namespace.
func newFixture(t *testing.T, kind string, o rootfsOptions) *fixture {
	t.Helper()
	requireSandbox(t)
	f := &fixture{kind: kind, dir: t.TempDir()}
	t.Cleanup(func() { assertNoMounts(t, f.dir) })
	f.image = filepath.Join(f.dir, "image")
	makeBusyboxRootfs(t, busyboxBinary(t), f.image, o)
	if kind == "overlay" {
		f.upper = filepath.Join(f.dir, "upper")
		f.work = filepath.Join(f.dir, "work")
		mkdirs(t, f.dir, "upper", "work")
	}
	return f
}

func (f *fixture) rootfs() Rootfs {
	if f.kind == "overlay" {
		return Rootfs{Overlay: &Overlay{LowerDirs: []string{f.image}, UpperDir: f.upper, WorkDir: f.work}}
	}
	return Rootfs{Dir: f.image}
}

// written returns where the step's write to rel lands on the host.
func (f *fixture) written(rel string) string {
	if f.kind == "overlay" {
		return filepath.Join(f.upper, rel)
	}
	return filepath.Join(f.image, rel)
}

// spec returns a spec running script with sh as root.
func (f *fixture) spec(t *testing.T, script string) Spec {
	return Spec{
		Rootfs:     f.rootfs(),
		Args:       []string{"sh", "-c", script},
		Env:        []string{"PATH=/bin", "HOME=/root"},
		Hostname:   "testhost",
		Hosts:      []byte("127.0.0.1 localhost testhost\n"),
		ResolvConf: []byte("nameserver 192.0.2.53\n"),
		StateDir:   t.TempDir(),
	}
}

// outcome is what one sandbox run produced.
type outcome struct {
	stdout, stderr string
	res            Result
	err            error
}

func runSpec(t *testing.T, spec Spec, stdin string) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	res, err := Run(ctx, spec, strings.NewReader(stdin), &stdout, &stderr)
	return outcome{stdout: stdout.String(), stderr: stderr.String(), res: res, err: err}
}

// mustRun runs spec and fails the test unless the command exited 0.
func mustRun(t *testing.T, spec Spec) string {
	t.Helper()
	o := runSpec(t, spec, "")
	if o.err != nil || o.res.ExitCode != 0 {
		t.Fatalf("Run: err=%v result=%+v\nstdout:\n%s\nstderr:\n%s", o.err, o.res, o.stdout, o.stderr)
	}
	return o.stdout
}

func requireSandbox(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("sandboxes need root")
	}
	if err := Available(); err != nil {
		t.Fatalf("running as root but Available: %v", err)
	}
}

// assertNoMounts fails if any mount in this namespace involves dir.
func assertNoMounts(t *testing.T, dir string) {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, dir) {
			t.Errorf("mount left behind: %s", line)
		}
	}
}
