package sandbox

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ocibuilder/builder/internal/testutil"
)

// rootfsOptions shape the test image.
type rootfsOptions struct {
	// bare leaves out /proc, /dev, /sys and /etc, so the sandbox must create
	// them.
	bare bool
}

// makeBusyboxRootfs builds a small image directory: busybox with one symlink
// per applet in /bin, /tmp, and (unless bare) a passwd and group file, the
// usual mountpoints and an /etc/hosts of its own.
func makeBusyboxRootfs(t *testing.T, dir string, o rootfsOptions) {
	t.Helper()
	testutil.WriteBusyboxRootfs(t, dir, testutil.BusyboxOptions{Users: !o.bare, Mountpoints: !o.bare})
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
	makeBusyboxRootfs(t, f.image, o)
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
