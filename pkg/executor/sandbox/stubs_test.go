package sandbox

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestStubs(t *testing.T) {
	tests := []struct {
		name string
		bare bool
		// prepare changes the image and returns the stubs expected, and a
		// check to run after the sandbox.
		prepare func(t *testing.T, image string) (want []string, check func(t *testing.T))
	}{
		{
			name: "complete image needs none",
			prepare: func(t *testing.T, image string) ([]string, func(*testing.T)) {
				writeFile(t, filepath.Join(image, "etc/resolv.conf"), "image resolv\n", 0o644)
				return nil, nil
			},
		},
		{
			name: "bare image",
			bare: true,
			prepare: func(*testing.T, string) ([]string, func(*testing.T)) {
				return []string{"proc", "dev", "sys", "etc", "etc/hosts", "etc/resolv.conf", "etc/hostname"}, nil
			},
		},
		{
			name: "dangling relative symlink is followed inside the image",
			prepare: func(t *testing.T, image string) ([]string, func(*testing.T)) {
				if err := os.Symlink("../run/systemd/resolv.conf", filepath.Join(image, "etc/resolv.conf")); err != nil {
					t.Fatal(err)
				}
				return []string{"run", "run/systemd", "run/systemd/resolv.conf"}, nil
			},
		},
		{
			name: "absolute symlink to a host file stays in the image",
			prepare: func(t *testing.T, image string) ([]string, func(*testing.T)) {
				secret := filepath.Join(t.TempDir(), "secret")
				writeFile(t, secret, "host secret\n", 0o644)
				if err := os.Remove(filepath.Join(image, "etc/hosts")); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(secret, filepath.Join(image, "etc/hosts")); err != nil {
					t.Fatal(err)
				}
				// The image has /tmp; everything below it is created.
				want := []string{"etc/resolv.conf"}
				rel := strings.TrimPrefix(secret, "/")
				var parents []string
				for d := filepath.Dir(rel); d != "tmp"; d = filepath.Dir(d) {
					parents = append([]string{d}, parents...)
				}
				want = append(append(want, parents...), rel)
				return want, func(t *testing.T) {
					if data := mustReadFile(t, secret); data != "host secret\n" {
						t.Errorf("host file changed to %q", data)
					}
				}
			},
		},
	}
	for _, kind := range fixtureKinds() {
		for _, tt := range tests {
			t.Run(kind+"/"+tt.name, func(t *testing.T) {
				f := newFixture(t, kind, rootfsOptions{bare: tt.bare})
				want, check := tt.prepare(t, f.image)
				spec := f.spec(t, "cat /etc/hosts /etc/resolv.conf /etc/hostname; ls /proc/self/status /dev/null /sys/kernel >/dev/null")
				o := runSpec(t, spec, "")
				if o.err != nil || o.res.ExitCode != 0 {
					t.Fatalf("Run: %v %+v\n%s", o.err, o.res, o.stderr)
				}
				if want := string(spec.Hosts) + string(spec.ResolvConf) + "testhost\n"; o.stdout != want {
					t.Errorf("sandbox sees %q, want %q", o.stdout, want)
				}
				if check != nil {
					check(t)
				}
				got := slices.Sorted(slices.Values(o.res.Stubs))
				if slices.Sort(want); !slices.Equal(got, want) {
					t.Errorf("stubs = %q, want %q", o.res.Stubs, want)
				}
				for i, s := range o.res.Stubs {
					if _, err := os.Lstat(f.written(s)); err != nil {
						t.Errorf("stub %s not in the root filesystem: %v", s, err)
					}
					if dir := filepath.Dir(s); dir != "." && !slices.Contains(o.res.Stubs[:i], dir) {
						if _, err := os.Lstat(filepath.Join(f.image, dir)); err != nil {
							t.Errorf("stub %s listed before its parent", s)
						}
					}
				}
			})
		}
	}
}
