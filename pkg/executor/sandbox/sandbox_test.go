package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// dockerDefaultCaps is /proc/self/status's rendering of Docker's default
// capability set.
const dockerDefaultCaps = "00000000a80425fb"

func TestIsolation(t *testing.T) {
	for _, kind := range fixtureKinds() {
		t.Run(kind, func(t *testing.T) {
			t.Run("command is PID 1 and sees no host process", func(t *testing.T) {
				f := newFixture(t, kind, rootfsOptions{})
				out := mustRun(t, f.spec(t, "echo $$; ps -o pid,comm; true"))
				lines := strings.Split(strings.TrimSpace(out), "\n")
				if lines[0] != "1" {
					t.Errorf("$$ = %q, want 1", lines[0])
				}
				procs := map[string]string{}
				for _, l := range lines[2:] { // lines[1] is ps's header
					fields := strings.Fields(l)
					if len(fields) != 2 {
						t.Fatalf("unexpected ps line %q", l)
					}
					procs[fields[0]] = fields[1]
				}
				if len(procs) != 2 || procs["1"] != "sh" {
					t.Errorf("processes = %v, want only sh as PID 1 and ps", procs)
				}
			})
			t.Run("own hostname", func(t *testing.T) {
				f := newFixture(t, kind, rootfsOptions{})
				out := mustRun(t, f.spec(t, "hostname; cat /etc/hostname"))
				if out != "testhost\ntesthost\n" {
					t.Errorf("hostname and /etc/hostname = %q", out)
				}
				if h, _ := os.Hostname(); h == "testhost" {
					t.Errorf("the host's name changed to %q", h)
				}
			})
			t.Run("host files are not visible", func(t *testing.T) {
				f := newFixture(t, kind, rootfsOptions{})
				canary, err := os.CreateTemp("/tmp", "sandbox-canary-")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = os.Remove(canary.Name()) })
				if err := canary.Close(); err != nil {
					t.Fatal(err)
				}
				script := fmt.Sprintf("if [ -e %s ]; then echo visible; else echo hidden; fi; ls /", canary.Name())
				out := mustRun(t, f.spec(t, script))
				if !strings.HasPrefix(out, "hidden\n") {
					t.Errorf("host file %s seen in the sandbox: %q", canary.Name(), out)
				}
			})
			t.Run("stdin passes through", func(t *testing.T) {
				f := newFixture(t, kind, rootfsOptions{})
				o := runSpec(t, f.spec(t, "tr a-z A-Z"), "hello\n")
				if o.err != nil || o.stdout != "HELLO\n" {
					t.Errorf("err=%v stdout=%q stderr=%q", o.err, o.stdout, o.stderr)
				}
			})
			t.Run("exit code is a result, not an error", func(t *testing.T) {
				f := newFixture(t, kind, rootfsOptions{})
				o := runSpec(t, f.spec(t, "echo out; echo err >&2; exit 3"), "")
				if o.err != nil {
					t.Fatalf("Run: %v", o.err)
				}
				if o.res.ExitCode != 3 || o.res.Signal != 0 {
					t.Errorf("result = %+v, want exit code 3", o.res)
				}
				if o.stdout != "out\n" || o.stderr != "err\n" {
					t.Errorf("stdout=%q stderr=%q", o.stdout, o.stderr)
				}
			})
		})
	}
}

func TestPrivileges(t *testing.T) {
	tests := []struct {
		name             string
		uid, gid         uint32
		groups           []uint32
		wantID           string
		wantEff, wantInh string
	}{
		{name: "root", wantID: "0 0 0", wantEff: dockerDefaultCaps, wantInh: "0000000000000000"},
		{name: "user", uid: 1000, gid: 1000, groups: []uint32{10, 1000}, wantID: "1000 1000 1000 10",
			wantEff: "0000000000000000", wantInh: "0000000000000000"},
	}
	for _, kind := range fixtureKinds() {
		for _, tt := range tests {
			t.Run(kind+"/"+tt.name, func(t *testing.T) {
				f := newFixture(t, kind, rootfsOptions{})
				spec := f.spec(t, `echo $(id -u) $(id -g) $(id -G); grep -E '^(Cap|NoNewPrivs)' /proc/self/status`)
				spec.UID, spec.GID, spec.Groups = tt.uid, tt.gid, tt.groups
				out := mustRun(t, spec)
				lines := strings.Split(strings.TrimSpace(out), "\n")
				if lines[0] != tt.wantID {
					t.Errorf("id = %q, want %q", lines[0], tt.wantID)
				}
				status := map[string]string{}
				for _, l := range lines[1:] {
					k, v, _ := strings.Cut(l, ":")
					status[k] = strings.TrimSpace(v)
				}
				want := map[string]string{
					"CapBnd":     dockerDefaultCaps,
					"CapEff":     tt.wantEff,
					"CapPrm":     tt.wantEff,
					"CapInh":     tt.wantInh,
					"CapAmb":     "0000000000000000",
					"NoNewPrivs": "1",
				}
				for k, v := range want {
					if status[k] != v {
						t.Errorf("%s = %q, want %q", k, status[k], v)
					}
				}
			})
		}
	}
}

func TestKernelInterfaces(t *testing.T) {
	// Masking is checked only where the host has the path with something
	// in it, so the check fails without the mask.
	var masked []string
	for _, rel := range maskedPaths() {
		host := "/" + rel
		if fi, err := os.Stat(host); err == nil && fi.IsDir() {
			if entries, _ := os.ReadDir(host); len(entries) > 0 {
				masked = append(masked, fmt.Sprintf(`echo "%s $(ls -A %s | wc -l)"`, host, host))
			}
		} else if data, err := os.ReadFile(host); err == nil && len(data) > 0 {
			masked = append(masked, fmt.Sprintf(`echo "%s $(cat %s | wc -c)"`, host, host))
		}
	}
	if len(masked) == 0 {
		t.Fatal("the host has none of the masked paths: nothing to check masking against")
	}
	for _, kind := range fixtureKinds() {
		t.Run(kind, func(t *testing.T) {
			f := newFixture(t, kind, rootfsOptions{})
			t.Run("masked paths are empty", func(t *testing.T) {
				out := mustRun(t, f.spec(t, strings.Join(masked, "; ")))
				for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
					if !strings.HasSuffix(l, " 0") {
						t.Errorf("masked path not empty: %q", l)
					}
				}
			})
			t.Run("read-only kernel paths", func(t *testing.T) {
				// Writing the UTS namespace's domainname would succeed for
				// root were /proc/sys writable.
				out := mustRun(t, f.spec(t, `if echo x 2>/dev/null >/proc/sys/kernel/domainname; then echo writable; else echo refused; fi; cat /proc/mounts`))
				if !strings.HasPrefix(out, "refused\n") {
					t.Errorf("/proc/sys is writable: %q", out)
				}
				opts := mountOptions(out)
				for _, mp := range []string{"/sys", "/proc/sys", "/proc/fs", "/proc/bus", "/proc/irq"} {
					if !strings.HasPrefix(opts[mp], "ro,") {
						t.Errorf("%s mounted %q, want read-only", mp, opts[mp])
					}
				}
			})
			t.Run("devices", func(t *testing.T) {
				out := mustRun(t, f.spec(t, `head -c 5 /dev/zero | wc -c; echo hi >/dev/null && echo null-ok; head -c 8 /dev/urandom | wc -c;
					touch /dev/shm/x && echo shm-ok; ls /dev | tr '\n' ' '; echo; readlink /dev/fd; readlink /dev/ptmx; test -c /dev/pts/ptmx && echo pts-ok`))
				want := "5\nnull-ok\n8\nshm-ok\ncore fd full null ptmx pts random shm stderr stdin stdout tty urandom zero \n/proc/self/fd\npts/ptmx\npts-ok\n"
				if out != want {
					t.Errorf("got:\n%s\nwant:\n%s", out, want)
				}
			})
		})
	}
}

// mountOptions maps each mountpoint in /proc/mounts text to its options.
func mountOptions(mounts string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(mounts, "\n") {
		if f := strings.Fields(l); len(f) >= 4 {
			m[f[1]] = f[3]
		}
	}
	return m
}

func TestGeneratedEtcFiles(t *testing.T) {
	for _, kind := range fixtureKinds() {
		t.Run(kind, func(t *testing.T) {
			f := newFixture(t, kind, rootfsOptions{})
			spec := f.spec(t, "cat /etc/hosts /etc/resolv.conf /etc/hostname; echo '10.0.0.1 extra' >>/etc/hosts")
			out := mustRun(t, spec)
			if want := string(spec.Hosts) + string(spec.ResolvConf) + "testhost\n"; out != want {
				t.Errorf("sandbox sees %q, want %q", out, want)
			}
			if data, err := os.ReadFile(filepath.Join(f.image, "etc/hosts")); err != nil || string(data) != "image hosts\n" {
				t.Errorf("image's etc/hosts = %q, %v; want it untouched", data, err)
			}
			if f.kind == "overlay" {
				for _, rel := range []string{"etc/hosts", "etc/hostname"} {
					if _, err := os.Lstat(filepath.Join(f.upper, rel)); !errors.Is(err, os.ErrNotExist) {
						t.Errorf("upper dir holds %s (%v)", rel, err)
					}
				}
				// The image lacks resolv.conf: its mountpoint is an empty
				// stub, never the generated contents.
				if data, err := os.ReadFile(filepath.Join(f.upper, "etc/resolv.conf")); err != nil || len(data) != 0 {
					t.Errorf("upper etc/resolv.conf = %q, %v; want an empty stub", data, err)
				}
			}
		})
	}
}

func TestWritesLandInRootfs(t *testing.T) {
	for _, kind := range fixtureKinds() {
		t.Run(kind, func(t *testing.T) {
			f := newFixture(t, kind, rootfsOptions{})
			mustRun(t, f.spec(t, "echo data >/newfile; mkdir -p /a/b; rm /bin/grep"))
			if data, err := os.ReadFile(f.written("newfile")); err != nil || string(data) != "data\n" {
				t.Errorf("newfile = %q, %v", data, err)
			}
			if fi, err := os.Stat(f.written("a/b")); err != nil || !fi.IsDir() {
				t.Errorf("a/b: %v", err)
			}
			if f.kind == "overlay" {
				if _, err := os.Lstat(filepath.Join(f.image, "newfile")); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("write reached the lower dir: %v", err)
				}
				fi, err := os.Lstat(f.written("bin/grep"))
				if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
					t.Errorf("bin/grep in upper = %v, %v; want a whiteout", fi, err)
				}
			}
		})
	}
}

func TestWorkingDirectory(t *testing.T) {
	tests := []struct {
		name     string
		cwd      string
		uid, gid uint32
		wantOwn  string
	}{
		{name: "created for user", cwd: "/work/app", uid: 1000, gid: 1000, wantOwn: "1000:1000"},
		{name: "created for root", cwd: "/srv", wantOwn: "0:0"},
		{name: "existing", cwd: "/home/app", uid: 1000, gid: 1000, wantOwn: ""},
	}
	for _, kind := range fixtureKinds() {
		for _, tt := range tests {
			t.Run(kind+"/"+tt.name, func(t *testing.T) {
				f := newFixture(t, kind, rootfsOptions{})
				spec := f.spec(t, "pwd; touch here")
				spec.Cwd, spec.UID, spec.GID = tt.cwd, tt.uid, tt.gid
				if tt.wantOwn == "" {
					if err := os.Chown(filepath.Join(f.image, tt.cwd), int(tt.uid), int(tt.gid)); err != nil {
						t.Fatal(err)
					}
				}
				if out := mustRun(t, spec); out != tt.cwd+"\n" {
					t.Errorf("pwd = %q", out)
				}
				if tt.wantOwn == "" {
					return
				}
				fi, err := os.Stat(f.written(tt.cwd))
				if err != nil {
					t.Fatal(err)
				}
				st := fi.Sys().(*syscall.Stat_t)
				if got := fmt.Sprintf("%d:%d", st.Uid, st.Gid); got != tt.wantOwn || fi.Mode().Perm() != 0o755 {
					t.Errorf("working directory %s %s, want %s 0755", got, fi.Mode().Perm(), tt.wantOwn)
				}
			})
		}
	}
}

func TestNetwork(t *testing.T) {
	hostIfaces := interfaces(t, mustReadFile(t, "/proc/net/dev"))
	tests := []struct {
		network Network
		want    []string
	}{
		{NetworkNone, []string{"lo"}},
		{NetworkPrivate, []string{"lo", "tap0"}},
		{NetworkHost, hostIfaces},
	}
	for _, kind := range fixtureKinds() {
		for _, tt := range tests {
			t.Run(kind+"/"+tt.network.String(), func(t *testing.T) {
				f := newFixture(t, kind, rootfsOptions{})
				spec := f.spec(t, "cat /proc/net/dev; echo; cat /sys/class/net/lo/flags")
				spec.Network = tt.network
				out := mustRun(t, spec)
				netdev, flags, _ := strings.Cut(out, "\n\n")
				if got := interfaces(t, netdev); !slices.Equal(got, tt.want) {
					t.Errorf("interfaces = %v, want %v", got, tt.want)
				}
				// IFF_UP|IFF_LOOPBACK: lo is up, also in a new namespace.
				if strings.TrimSpace(flags) != "0x9" {
					t.Errorf("lo flags = %q, want 0x9", flags)
				}
			})
		}
	}
}

func interfaces(t *testing.T, netdev string) []string {
	t.Helper()
	var names []string
	for _, l := range strings.Split(netdev, "\n") {
		if name, _, ok := strings.Cut(l, ":"); ok && !strings.Contains(name, "|") {
			names = append(names, strings.TrimSpace(name))
		}
	}
	if len(names) == 0 {
		t.Fatalf("no interface in %q", netdev)
	}
	slices.Sort(names)
	return names
}

func mustReadFile(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestDeviceNodesUnusableWithoutCgroup checks the nodev mounts on their own,
// with no device cgroup around the sandbox: a node made on the root
// filesystem, in /dev or in /dev/shm cannot be opened, while the standard
// devices can. The nodes have /dev/null's numbers: only the mount can make
// them fail.
func TestDeviceNodesUnusableWithoutCgroup(t *testing.T) {
	for _, kind := range fixtureKinds() {
		t.Run(kind, func(t *testing.T) {
			f := newFixture(t, kind, rootfsOptions{})
			var script strings.Builder
			for _, p := range []string{"/node", "/tmp/node", "/dev/node", "/dev/shm/node"} {
				fmt.Fprintf(&script, `mknod %[1]s c 1 3 && if (: < %[1]s) 2>/dev/null; then echo "%[1]s open"; else echo "%[1]s denied"; fi; `, p)
			}
			script.WriteString(`echo x > /dev/null && head -c 1 /dev/zero | wc -c`)
			out := mustRun(t, f.spec(t, script.String()))
			want := "/node denied\n/tmp/node denied\n/dev/node denied\n/dev/shm/node denied\n1\n"
			if out != want {
				t.Errorf("output:\n%s\nwant:\n%s", out, want)
			}
		})
	}
}
