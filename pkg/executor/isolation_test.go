package executor_test

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ocibuilder/builder/pkg/executor"
)

// rootCaps is Docker's default capability set, which RUN steps get as
// root (bounding and effective).
const rootCaps = "00000000a80425fb"

// TestRunIsolation checks from inside builds what a RUN step sees: its own
// PID namespace and host name, no host processes or files, dropped
// capabilities, the stage's user, working directory, environment and
// shell, the network asked for, and every form of the instruction.
func TestRunIsolation(t *testing.T) {
	requireSandbox(t)
	base := busyboxBase(t)
	marker := hostProcess(t)
	canary := filepath.Join(t.TempDir(), "canary", "secret")
	if err := os.MkdirAll(filepath.Dir(canary), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(canary, []byte("host secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		df        string // after FROM base
		buildArgs map[string]string
		opt       func(*executor.Options)
		check     func(t *testing.T, r *result)
	}{
		{
			name: "PID namespace and host name",
			df:   "RUN echo $$ > /pid && hostname > /h && cat /etc/hostname > /h2\n",
			check: func(t *testing.T, r *result) {
				r.wantFile(t, "/pid", "1\n")
				r.wantFile(t, "/h", "sandbox\n")
				r.wantFile(t, "/h2", "sandbox\n")
			},
		},
		{
			name: "no host processes",
			df:   "RUN ps > /ps\n",
			check: func(t *testing.T, r *result) {
				ps := r.read(t, "/ps")
				if strings.Contains(ps, marker) {
					t.Errorf("the step sees the host process %s:\n%s", marker, ps)
				}
				lines := strings.Split(strings.TrimSpace(ps), "\n")
				if len(lines) < 2 || len(lines) > 3 || !strings.Contains(ps, "ps") {
					t.Errorf("ps in the step lists more than the step's shell and ps:\n%s", ps)
				}
			},
		},
		{
			name: "host files are out of reach",
			df: "RUN (cat " + canary + " 2>/dev/null || echo missing) > /canary-seen; " +
				"mkdir -p " + filepath.Dir(canary) + " && echo changed > " + canary + "\n",
			check: func(t *testing.T, r *result) {
				r.wantFile(t, "/canary-seen", "missing\n")
				r.wantFile(t, canary, "changed\n")
				if got := readHostFile(t, canary); got != "host secret\n" {
					t.Errorf("host canary changed to %q", got)
				}
			},
		},
		{
			name: "capabilities of root",
			df:   "RUN grep -E '^(Cap|NoNewPrivs)' /proc/self/status > /caps\n",
			check: func(t *testing.T, r *result) {
				wantStatus(t, r.read(t, "/caps"), map[string]string{"CapBnd": rootCaps, "CapEff": rootCaps, "CapPrm": rootCaps,
					"CapInh": "0000000000000000", "CapAmb": "0000000000000000", "NoNewPrivs": "1"})
			},
		},
		{
			// su keeps what the inheritable set holds across its exec;
			// it must hold nothing.
			name: "capabilities after su to another user",
			df:   "RUN su -s /bin/sh app -c \"grep -E '^(Cap|NoNewPrivs)' /proc/self/status\" > /caps-su\n",
			check: func(t *testing.T, r *result) {
				wantStatus(t, r.read(t, "/caps-su"), map[string]string{"CapBnd": rootCaps, "CapEff": "0000000000000000",
					"CapPrm": "0000000000000000", "CapInh": "0000000000000000", "CapAmb": "0000000000000000", "NoNewPrivs": "1"})
			},
		},
		{
			name: "capabilities of a user",
			df:   "USER 1000\nRUN grep -E '^(Cap|NoNewPrivs)' /proc/self/status > /tmp/caps && id > /tmp/id\n",
			check: func(t *testing.T, r *result) {
				wantStatus(t, r.read(t, "/tmp/caps"), map[string]string{"CapBnd": rootCaps, "CapEff": "0000000000000000",
					"CapInh": "0000000000000000", "CapAmb": "0000000000000000", "NoNewPrivs": "1"})
				if uid, gid := r.owner(t, "/tmp/caps"); uid != 1000 || gid != 1000 {
					t.Errorf("file the step wrote is owned by %d:%d, want 1000:1000", uid, gid)
				}
			},
		},
		{
			name: "user by name with supplementary groups",
			df:   "USER app\nRUN id > /tmp/id\n",
			check: func(t *testing.T, r *result) {
				id := strings.TrimSpace(r.read(t, "/tmp/id"))
				for _, want := range []string{"uid=1000(app)", "gid=1000(app)", "10(wheel)"} {
					if !strings.Contains(id, want) {
						t.Errorf("id in the step prints %q, want %s in it", id, want)
					}
				}
			},
		},
		{
			name: "HOME",
			df: "RUN echo $HOME > /home-root\nUSER app\nRUN echo $HOME > /tmp/home-app\n" +
				"USER 4321\nRUN echo $HOME > /tmp/home-unknown\nENV HOME=/custom\nRUN echo $HOME > /tmp/home-env\n",
			check: func(t *testing.T, r *result) {
				r.wantFile(t, "/home-root", "/root\n")
				r.wantFile(t, "/tmp/home-app", "/home/app\n")
				r.wantFile(t, "/tmp/home-unknown", "/\n")
				r.wantFile(t, "/tmp/home-env", "/custom\n")
				if slices.ContainsFunc(r.img.Config.Config.Env, func(kv string) bool { return kv == "HOME=/root" }) {
					t.Errorf("the step's HOME reached the image config: %q", r.img.Config.Config.Env)
				}
			},
		},
		{
			name: "working directory",
			df:   "WORKDIR /work/dir\nRUN pwd > /pwd && echo x > rel\n",
			check: func(t *testing.T, r *result) {
				r.wantFile(t, "/pwd", "/work/dir\n")
				r.wantFile(t, "/work/dir/rel", "x\n")
			},
		},
		{
			name:      "ARG and ENV",
			df:        "ARG A=default\nARG B=argb\nARG C\nENV B=envb\nRUN echo \"A=$A B=$B C=${C-unset}\" > /args && env > /env\n",
			buildArgs: map[string]string{"A": "fromcli"},
			check: func(t *testing.T, r *result) {
				r.wantFile(t, "/args", "A=fromcli B=envb C=unset\n")
				if env := r.read(t, "/env"); !strings.Contains(env, "PATH=/usr/local/sbin:") {
					t.Errorf("step environment lacks the image PATH:\n%s", env)
				}
				if slices.ContainsFunc(r.img.Config.Config.Env, func(kv string) bool { return strings.HasPrefix(kv, "A=") }) {
					t.Errorf("ARG A reached the image config: %q", r.img.Config.Config.Env)
				}
			},
		},
		{
			name: "SHELL",
			df: "RUN printf '#!/bin/sh\\necho \"$@\" > /shell-args\\nexec /bin/sh \"$@\"\\n' > /myshell && chmod 755 /myshell\n" +
				"SHELL [\"/myshell\", \"-c\"]\nRUN echo hello > /out\n",
			check: func(t *testing.T, r *result) {
				r.wantFile(t, "/shell-args", "-c echo hello > /out\n")
				r.wantFile(t, "/out", "hello\n")
			},
		},
		{
			name: "network",
			df:   "RUN --network=none " + netProbe("none") + "\nRUN " + netProbe("default") + "\nRUN --network=default " + netProbe("default2") + "\nRUN --network=host " + netProbe("host") + "\n",
			opt:  func(o *executor.Options) { o.Allow = []executor.Entitlement{executor.EntitlementNetworkHost} },
			check: func(t *testing.T, r *result) {
				wantNetwork(t, r, "none", "none")
				wantNetwork(t, r, "default", "private")
				wantNetwork(t, r, "default2", "private")
				wantNetwork(t, r, "host", "host")
			},
		},
		{
			name: "network none by default",
			df:   "RUN " + netProbe("default") + "\nRUN --network=host " + netProbe("host") + "\n",
			opt: func(o *executor.Options) {
				o.Network = executor.NetworkNone
				o.Allow = []executor.Entitlement{executor.EntitlementNetworkHost}
			},
			check: func(t *testing.T, r *result) {
				wantNetwork(t, r, "default", "none")
				wantNetwork(t, r, "host", "host")
			},
		},
		{
			name: "network host for the build",
			df:   "RUN " + netProbe("default") + "\nRUN --network=host " + netProbe("host") + "\n",
			opt:  func(o *executor.Options) { o.Network = executor.NetworkHost },
			check: func(t *testing.T, r *result) {
				wantNetwork(t, r, "default", "host")
				wantNetwork(t, r, "host", "host")
			},
		},
		{
			name: "exec form",
			df:   "ENV HOME=/root\nRUN [\"/bin/touch\", \"/exec-$HOME\"]\n",
			check: func(t *testing.T, r *result) {
				if !r.exists("/exec-$HOME") {
					t.Errorf("exec form went through a shell: image has %q", r.files(t, "/"))
				}
			},
		},
		{
			name: "heredocs",
			df: "ENV GREETING=world\n" +
				"RUN <<EOF\necho \"$0\" > /hd-plain\necho two >> /hd-plain\nEOF\n" +
				"RUN <<EOF\n#!/bin/sh\necho \"$0\" > /hd-shebang\nEOF\n" +
				"RUN cat <<EOF > /hd-cat\nhello $GREETING\nEOF\n" +
				"RUN cat <<'EOF' > /hd-quoted\nhello $GREETING\nEOF\n",
			check: func(t *testing.T, r *result) {
				r.wantFile(t, "/hd-plain", "/bin/sh\ntwo\n")
				r.wantFile(t, "/hd-shebang", "/dev/pipes/EOF\n")
				r.wantFile(t, "/hd-cat", "hello world\n")
				r.wantFile(t, "/hd-quoted", "hello $GREETING\n")
				if r.exists("/dev/pipes") {
					t.Error("the heredoc script reached the image")
				}
			},
		},
	}
	for _, tt := range tests {
		for _, snap := range snapshotters() {
			t.Run(tt.name+"/"+string(snap), func(t *testing.T) {
				t.Parallel()
				s := spec{base: base, dockerfile: "FROM base\n" + tt.df, buildArgs: tt.buildArgs}
				tt.check(t, mustRunBuild(t, s, snap, tt.opt))
			})
		}
	}
}

// hostProcess starts a process on the host whose argv[0] is a random
// marker, stopped when the test ends, and returns the marker after checking
// that the host's /proc shows it.
func hostProcess(t *testing.T) string {
	t.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	marker := "host-canary-" + hex.EncodeToString(b[:])
	cmd := exec.Command("sleep", "60")
	cmd.Args[0] = marker
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting a host process: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	// Start returns before the child has exec'd.
	p := filepath.Join("/proc", strconv.Itoa(cmd.Process.Pid), "cmdline")
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if strings.HasPrefix(readHostFile(t, p), marker+"\x00") {
			return marker
		}
	}
	t.Fatalf("host process shows cmdline %q, want it to start with %s", readHostFile(t, p), marker)
	return ""
}

func readHostFile(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("reading %s: %v", p, err)
	}
	return string(b)
}

// interfaces returns the sorted interface names of a /proc/net/dev table.
func interfaces(t testing.TB, table string) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(table, "\n") {
		name, _, ok := strings.Cut(line, ":")
		if ok && !strings.Contains(name, "|") {
			out = append(out, strings.TrimSpace(name))
		}
	}
	slices.Sort(out)
	return out
}

// wantStatus checks lines of /proc/self/status output.
func wantStatus(t testing.TB, status string, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(status), "\n") {
		k, v, _ := strings.Cut(line, ":")
		got[k] = strings.TrimSpace(v)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s in the step is %q, want %q (status:\n%s)", k, got[k], v, status)
		}
	}
}

// netProbe is a RUN command recording the step's network namespace and
// interfaces in /net-<name>.
func netProbe(name string) string {
	return "readlink /proc/self/ns/net > /net-" + name + " && cat /proc/net/dev >> /net-" + name
}

// wantNetwork checks what netProbe(name) recorded: the host's network
// namespace and interfaces ("host"), or a namespace of its own with only
// lo ("none") or with lo and the user-mode network's tap0 ("private").
func wantNetwork(t *testing.T, r *result, name, kind string) {
	t.Helper()
	ns, table, _ := strings.Cut(r.read(t, "/net-"+name), "\n")
	hostNS, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	got := interfaces(t, table)
	if kind == "host" {
		if want := interfaces(t, readHostFile(t, "/proc/net/dev")); ns != hostNS || !slices.Equal(got, want) {
			t.Errorf("%s: step is in network namespace %s with interfaces %q, want the host's %s with %q", name, ns, got, hostNS, want)
		}
		return
	}
	want := []string{"lo"}
	if kind == "private" {
		want = append(want, "tap0")
	}
	if ns == hostNS || !slices.Equal(got, want) {
		t.Errorf("%s: step is in network namespace %s with interfaces %q, want one of its own (not %s) with %q", name, ns, got, hostNS, want)
	}
}
