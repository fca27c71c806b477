package sandbox

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocibuilder/builder/internal/testutil"
)

// buildSeccompProbe compiles testdata/seccompprobe into a static binary.
func buildSeccompProbe(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "probe")
	cmd := exec.Command("go", "build", "-o", out, "./pkg/executor/sandbox/testdata/seccompprobe")
	cmd.Dir = testutil.RepoRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the seccomp probe: %v\n%s", err, msg)
	}
	return out
}

// keyValues parses "key value..." lines.
func keyValues(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			m[strings.TrimSuffix(f[0], ":")] = strings.Join(f[1:], " ")
		}
	}
	return m
}

func TestSeccompSandbox(t *testing.T) {
	requireSandbox(t)
	probe := buildSeccompProbe(t)
	probeBin, err := os.ReadFile(probe)
	if err != nil {
		t.Fatal(err)
	}
	// Each probe's result under the default profile and without a filter;
	// the unconfined results show the refusals come from the filter, not
	// from the missing capabilities.
	probes := []struct {
		name       string
		confined   string
		unconfined func(string) bool
	}{
		{"keyctl", "EPERM", func(r string) bool { return r != "EPERM" }},
		{"personality-query", "ok", func(r string) bool { return r == "ok" }},
		{"personality-norandom", "EPERM", func(r string) bool { return r == "ok" }},
		{"unshare-nothing", "EPERM", func(r string) bool { return r == "ok" }},
		{"mount-missing", "EPERM", func(r string) bool { return r == "ENOENT" }},
		{"clone3", "ENOSYS", func(r string) bool { return r == "EINVAL" }},
		{"socket-inet", "ok", func(r string) bool { return r == "ok" }},
		{"socket-alg", "EPERM", func(r string) bool { return r != "EPERM" }},
		// Attaching to a process the step did not start is refused by
		// the filter (stricter than docker's profile); the kernel alone
		// allows it here.
		{"ptrace-sibling", "EPERM", func(r string) bool { return r == "ok" }},
	}
	var names []string
	for _, p := range probes {
		names = append(names, p.name)
	}
	probeScript := `grep -E '^Seccomp' /proc/self/status; sleep 1000 & SIBLING_PID=$! /probe ` + strings.Join(names, " ") + `; kill $!`

	for _, kind := range fixtureKinds() {
		t.Run(kind, func(t *testing.T) {
			f := newFixture(t, kind, rootfsOptions{})
			writeFile(t, filepath.Join(f.image, "probe"), string(probeBin), 0o755)

			var results [2]map[string]string
			for i, unconfined := range []bool{false, true} {
				spec := f.spec(t, probeScript)
				spec.SeccompUnconfined = unconfined
				results[i] = keyValues(mustRun(t, spec))
			}
			confined, free := results[0], results[1]
			t.Run("filter status", func(t *testing.T) {
				if confined["Seccomp"] != "2" || confined["Seccomp_filters"] != "1" {
					t.Errorf("default profile: Seccomp=%q Seccomp_filters=%q, want 2 and 1", confined["Seccomp"], confined["Seccomp_filters"])
				}
				if free["Seccomp"] != "0" || free["Seccomp_filters"] != "0" {
					t.Errorf("unconfined: Seccomp=%q Seccomp_filters=%q, want 0 and 0", free["Seccomp"], free["Seccomp_filters"])
				}
			})
			for _, p := range probes {
				t.Run(p.name, func(t *testing.T) {
					if confined[p.name] != p.confined {
						t.Errorf("default profile: %s = %q, want %s", p.name, confined[p.name], p.confined)
					}
					if !p.unconfined(free[p.name]) {
						t.Errorf("unconfined: %s = %q", p.name, free[p.name])
					}
				})
			}
			t.Run("refused commands", func(t *testing.T) {
				out := mustRun(t, f.spec(t, `mount -t tmpfs none /mnt 2>&1; echo "mount $?"; unshare -m true 2>&1; echo "unshare $?"`))
				r := keyValues(out)
				if r["mount"] == "0" || r["unshare"] == "0" {
					t.Errorf("mount or unshare succeeded:\n%s", out)
				}
				if !strings.Contains(out, "unshare(0x20000): Operation not permitted") || !strings.Contains(out, "permission denied") {
					t.Errorf("refusals are not EPERM:\n%s", out)
				}
			})

			t.Run("ordinary commands", func(t *testing.T) {
				spec := f.spec(t, `set -e; mkdir -p /w/d; cd /w; echo hello >d/f; chmod 640 d/f; chown 1000:1000 d/f
					ln -s d/f link; cat link; ls d; sleep 0.1
					tar czf a.tgz d; mkdir x; tar xzf a.tgz -C x; cat x/d/f
					gzip -c d/f | gzip -dc; stat -c '%u:%g %a' d/f x/d/f
					su -s /bin/sh -c 'id -u; touch /tmp/u; stat -c %u /tmp/u' nobody 2>/dev/null || echo "su $?"`)
				out := mustRun(t, spec)
				want := "hello\nf\nhello\nhello\n1000:1000 640\n1000:1000 640\n"
				if !strings.HasPrefix(out, want) {
					t.Errorf("got:\n%s\nwant it to start with:\n%s", out, want)
				}
				if data, err := os.ReadFile(f.written("w/x/d/f")); err != nil || string(data) != "hello\n" {
					t.Errorf("extracted file = %q, %v", data, err)
				}
			})
		})
	}
}
