package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocibuilder/builder/internal/cgroup"
	"github.com/ocibuilder/builder/pkg/executor"
)

func TestParseLimits(t *testing.T) {
	tests := []struct {
		name    string
		f       buildFlags
		want    executor.Limits
		wantErr string
	}{
		{"defaults", buildFlags{pidsLimit: defaultPidsLimit}, executor.Limits{Pids: 4096}, ""},
		{"all", buildFlags{memory: "512m", cpus: "1.5", pidsLimit: 64}, executor.Limits{Memory: 512 << 20, CPUs: 1.5, Pids: 64}, ""},
		{"memory zero", buildFlags{memory: "0"}, executor.Limits{}, ""},
		{"pids unlimited", buildFlags{pidsLimit: -1}, executor.Limits{Pids: -1}, ""},
		{"pids below -1", buildFlags{pidsLimit: -2}, executor.Limits{}, "--pids-limit"},
		{"memory unit", buildFlags{memory: "12q"}, executor.Limits{}, "--memory"},
		{"memory too small", buildFlags{memory: "1m"}, executor.Limits{}, "minimum"},
		{"cpus word", buildFlags{cpus: "two"}, executor.Limits{}, "--cpus"},
		{"cpus negative", buildFlags{cpus: "-1"}, executor.Limits{}, "--cpus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseLimits(tt.f)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseLimits = %+v, %v; want an error naming %s", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("parseLimits = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// TestMemoryLimitReportsOOM runs a step that outgrows --memory: the build
// fails and says the step ran out of memory.
func TestMemoryLimitReportsOOM(t *testing.T) {
	requireCgroupsE2E(t)
	s := setup(t)
	ctx := t.TempDir()
	writeFiles(t, ctx, map[string]string{"Dockerfile": "FROM busybox\nRUN head -c 300m /dev/zero | tail >/dev/null\n"})
	r := runBuilder(t, s.builder, nil, "build", "--progress", "plain", "--root", t.TempDir(), "--memory", "64m",
		"--build-context", "busybox=oci-layout://"+s.busybox+":latest", "-o", filepath.Join(t.TempDir(), "out"), ctx)
	if r.code == 0 {
		t.Fatalf("a step needing 300 MB succeeded under --memory 64m:\n%s", r.stderr)
	}
	if want := "killed: out of memory (limit 64MiB)"; !strings.Contains(r.stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
	}
}

// TestLimitsWithoutCgroups runs the builder where /sys/fs/cgroup is an
// empty tmpfs: the build works without limits and says why, once.
func TestLimitsWithoutCgroups(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	s := setup(t)
	ctx := t.TempDir()
	writeFiles(t, ctx, map[string]string{"Dockerfile": "FROM busybox\nRUN echo one > /one\nRUN echo two > /two\n"})
	out := filepath.Join(t.TempDir(), "out")
	script := `mount -t tmpfs none /sys/fs/cgroup && exec "$@"`
	r := runBuilder(t, "unshare", nil, "--mount", "--propagation", "private", "sh", "-c", script, "sh",
		s.builder, "build", "--progress", "plain", "--root", t.TempDir(), "--memory", "64m", "--cpus", "1",
		"--build-context", "busybox=oci-layout://"+s.busybox+":latest", "-o", out, ctx)
	mustSucceed(t, r)
	if n := strings.Count(r.stderr, "resource limits are not applied"); n != 1 {
		t.Errorf("the fallback is explained %d times, want once:\n%s", n, r.stderr)
	}
	for _, f := range []string{"one", "two"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("RUN step without limits did not run: %v", err)
		}
	}
}

// requireCgroupsE2E skips where this machine cannot enforce a memory limit.
func requireCgroupsE2E(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	m, err := cgroup.Open(cgroup.Config{})
	if err != nil {
		t.Skipf("cgroups unavailable: %v", err)
	}
	defer func() {
		if err := m.Close(t.Context()); err != nil {
			t.Error(err)
		}
	}()
	if err := m.Check(cgroup.Limits{Memory: 64 << 20}); err != nil {
		t.Skipf("no memory limits here: %v", err)
	}
}
