package sandbox

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestCheckMounts(t *testing.T) {
	src := t.TempDir()
	ov := &Overlay{LowerDirs: []string{src}, UpperDir: src, WorkDir: src}
	for _, tc := range []struct {
		name   string
		mounts []Mount
		ok     bool
		// order is the targets after checkMounts, when ok.
		order []string
	}{
		{"none", nil, true, []string{}},
		{"one of each kind", []Mount{{Target: "/a", Source: src}, {Target: "/b", Overlay: ov, Subpath: "x"}, {Target: "/c", Tmpfs: &Tmpfs{Size: 1 << 20}}}, true, []string{"/a", "/b", "/c"}},
		{"parents first", []Mount{{Target: "/a/b/c", Source: src}, {Target: "/a", Tmpfs: &Tmpfs{}}, {Target: "/a/b", Source: src}}, true, []string{"/a", "/a/b", "/a/b/c"}},
		{"siblings keep their order", []Mount{{Target: "/z/y", Source: src}, {Target: "/b", Source: src}, {Target: "/a/x", Source: src}}, true, []string{"/b", "/z/y", "/a/x"}},
		{"relative target", []Mount{{Target: "a", Source: src}}, false, nil},
		{"unclean target", []Mount{{Target: "/a/../b", Source: src}}, false, nil},
		{"trailing slash", []Mount{{Target: "/a/", Source: src}}, false, nil},
		{"empty target", []Mount{{Source: src}}, false, nil},
		{"root target", []Mount{{Target: "/", Source: src}}, false, nil},
		{"NUL in target", []Mount{{Target: "/a\x00b", Source: src}}, false, nil},
		{"NUL in subpath", []Mount{{Target: "/a", Source: src, Subpath: "x\x00"}}, false, nil},
		{"duplicate targets", []Mount{{Target: "/a", Source: src}, {Target: "/a", Tmpfs: &Tmpfs{}}}, false, nil},
		{"no kind", []Mount{{Target: "/a"}}, false, nil},
		{"source and tmpfs", []Mount{{Target: "/a", Source: src, Tmpfs: &Tmpfs{}}}, false, nil},
		{"source and overlay", []Mount{{Target: "/a", Source: src, Overlay: ov}}, false, nil},
		{"overlay and tmpfs", []Mount{{Target: "/a", Overlay: ov, Tmpfs: &Tmpfs{}}}, false, nil},
		{"tmpfs with a subpath", []Mount{{Target: "/a", Tmpfs: &Tmpfs{}, Subpath: "x"}}, false, nil},
		{"tmpfs with a negative size", []Mount{{Target: "/a", Tmpfs: &Tmpfs{Size: -1}}}, false, nil},
		{"overlay without a lower", []Mount{{Target: "/a", Overlay: &Overlay{UpperDir: src, WorkDir: src}}}, false, nil},
		{"NUL in source", []Mount{{Target: "/a", Source: src + "\x00"}}, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := checkMounts(tc.mounts)
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInvalidSpec)) {
				t.Fatalf("checkMounts = %v; want ok=%v and ErrInvalidSpec on refusal", err, tc.ok)
			}
			if !tc.ok {
				return
			}
			targets := []string{}
			for _, m := range got {
				targets = append(targets, m.Target)
			}
			if !slices.Equal(targets, tc.order) {
				t.Errorf("order %q, want %q", targets, tc.order)
			}
		})
	}
}

// TestCheckMountsHostPaths: relative host paths are made absolute (the
// child changes its working directory) and the caller's slice is left
// as it was.
func TestCheckMountsHostPaths(t *testing.T) {
	in := []Mount{{Target: "/b/c", Source: "rel/dir"}, {Target: "/b", Source: "./x/../y"}}
	got, err := checkMounts(in)
	if err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Target != "/b" || got[0].Source != filepath.Join(wd, "y") || got[1].Source != filepath.Join(wd, "rel/dir") {
		t.Errorf("checkMounts = %+v", got)
	}
	if in[0].Source != "rel/dir" || in[0].Target != "/b/c" {
		t.Errorf("checkMounts changed its argument: %+v", in)
	}
}

// TestStepMounts runs a sandbox with one mount of each kind: what a step
// sees at each target, what it may write there, and that the mountpoints
// the image lacked are reported as stubs, parents first.
func TestStepMounts(t *testing.T) {
	for _, kind := range fixtureKinds() {
		t.Run(kind, func(t *testing.T) {
			f := newFixture(t, kind, rootfsOptions{})
			host := t.TempDir()
			writeFile(t, filepath.Join(host, "data/file"), "bound\n", 0o644)
			writeFile(t, filepath.Join(host, "rw/file"), "rw\n", 0o644)
			spec := f.spec(t, `set -e
cat /m/ro/file > /out
if touch /m/ro/new 2>/dev/null; then echo ro-writable >> /out; fi
echo written > /m/rw/new
dd if=/dev/zero of=/m/t/big bs=1024 count=64 2>/dev/null && echo tmpfs-unbounded >> /out || true
grep -E ' /m/(ro|rw|t) ' /proc/self/mounts | cut -d' ' -f2,3,4 | tr ',' ' ' | while read -r mp fs opts; do
	case " $opts " in *" nosuid "*) ;; *) echo "$mp suid" >> /out ;; esac
	case " $opts " in *" nodev "*) ;; *) echo "$mp dev" >> /out ;; esac
done
`)
			spec.Mounts = []Mount{
				{Target: "/m/t", Tmpfs: &Tmpfs{Size: 32 << 10}},
				{Target: "/m/rw", Source: filepath.Join(host, "rw")},
				{Target: "/m/ro", Source: host, Subpath: "data", ReadOnly: true},
			}
			o := runSpec(t, spec, "")
			if o.err != nil || o.res.ExitCode != 0 {
				t.Fatalf("Run: %v %+v\n%s", o.err, o.res, o.stderr)
			}
			b, err := os.ReadFile(f.written("out"))
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != "bound\n" {
				t.Errorf("the step reported:\n%s\nwant only the bound file's content", b)
			}
			if b, err := os.ReadFile(filepath.Join(host, "rw/new")); err != nil || string(b) != "written\n" {
				t.Errorf("write through the rw bind: %q, %v", b, err)
			}
			var stubs []string
			for _, s := range o.res.Stubs {
				if s == "m" || strings.HasPrefix(s, "m/") {
					stubs = append(stubs, s)
				}
			}
			if want := []string{"m", "m/t", "m/rw", "m/ro"}; !slices.Equal(stubs, want) {
				t.Errorf("stubs below /m %q, want %q", stubs, want)
			}
		})
	}
}

// TestStepMountSubpathStaysInside: a subpath whose symlinks lead out of
// the source (absolute or by "..") resolves inside it, never to the
// host's files.
func TestStepMountSubpathStaysInside(t *testing.T) {
	f := newFixture(t, "dir", rootfsOptions{})
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "secret"), "host secret\n", 0o644)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "inside/secret"), "inside\n", 0o644)
	if err := os.Symlink(outside, filepath.Join(src, "abs")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../../../../.."+outside, filepath.Join(src, "up")); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"abs", "up", "../../../../../" + outside, "abs/secret"} {
		t.Run(strings.ReplaceAll(sub, "/", "_"), func(t *testing.T) {
			spec := f.spec(t, "cat /m/secret /m 2>/dev/null > /out; true")
			spec.Mounts = []Mount{{Target: "/m", Source: src, Subpath: sub, ReadOnly: true}}
			o := runSpec(t, spec, "")
			if o.err == nil && o.res.ExitCode == 0 {
				b, _ := os.ReadFile(f.written("out"))
				if strings.Contains(string(b), "host secret") {
					t.Fatalf("subpath %q showed the host's file", sub)
				}
				return
			}
			if strings.Contains(o.stdout+o.stderr, "host secret") {
				t.Fatalf("subpath %q showed the host's file", sub)
			}
		})
	}
	if b, err := os.ReadFile(filepath.Join(outside, "secret")); err != nil || string(b) != "host secret\n" {
		t.Errorf("host file changed: %q, %v", b, err)
	}
}
