package sandbox

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestOverlayMountData(t *testing.T) {
	tests := []struct {
		name     string
		o        Overlay
		wantDir  string
		wantData string
		wantErr  error
	}{
		{
			name:     "topmost lower first, names relative to the common parent",
			o:        Overlay{LowerDirs: []string{"/s/layers/a", "/s/layers/b"}, UpperDir: "/s/layers/up", WorkDir: "/s/work"},
			wantDir:  "/s/layers",
			wantData: "lowerdir=b:a,upperdir=up,workdir=/s/work,index=off,metacopy=off,redirect_dir=off",
		},
		{
			name:     "outlier lower keeps its absolute name",
			o:        Overlay{LowerDirs: []string{"/base", "/s/l/1", "/s/l/2", "/s/l/3"}, UpperDir: "/u", WorkDir: "/w"},
			wantDir:  "/s/l",
			wantData: "lowerdir=3:2:1:/base,upperdir=/u,workdir=/w,index=off,metacopy=off,redirect_dir=off",
		},
		{
			name:     "special characters escaped",
			o:        Overlay{LowerDirs: []string{`/x/a:b`, `/x/c,d`, `/x/e\f`}, UpperDir: "/x/u=v", WorkDir: "/w"},
			wantDir:  "/x",
			wantData: `lowerdir=e\\f:c\,d:a\:b,upperdir=u=v,workdir=/w,index=off,metacopy=off,redirect_dir=off`,
		},
		{
			name:    "too long even when relative",
			o:       Overlay{LowerDirs: manyDirs("/s", 500, 10), UpperDir: "/u", WorkDir: "/w"},
			wantErr: ErrOverlayTooLong,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := overlayMountData(tt.o, 4096)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.dir != tt.wantDir || d.data != tt.wantData {
				t.Errorf("got dir %q data %q\nwant dir %q data %q", d.dir, d.data, tt.wantDir, tt.wantData)
			}
		})
	}
}

func manyDirs(parent string, n, nameLen int) []string {
	dirs := make([]string, n)
	for i := range dirs {
		name := fmt.Sprintf("%d-", i)
		dirs[i] = filepath.Join(parent, name+strings.Repeat("x", nameLen-len(name)))
	}
	return dirs
}

// parseOverlayData models how the kernel reads overlay mount data: options
// split at unescaped commas (escapes kept), lowerdir split at unescaped
// colons, and escapes removed from each name. Relative names resolve against
// dir.
func parseOverlayData(dir, data string) (lowers []string, upper, work string, err error) {
	for _, opt := range splitUnescaped(data, ',', false) {
		key, val, _ := strings.Cut(opt, "=")
		switch key {
		case "lowerdir":
			for _, l := range splitUnescaped(val, ':', true) {
				if l == "" {
					return nil, "", "", fmt.Errorf("empty lowerdir in %q", val)
				}
				lowers = append(lowers, resolveAt(dir, l))
			}
		case "upperdir":
			upper = resolveAt(dir, unescape(val))
		case "workdir":
			work = resolveAt(dir, unescape(val))
		case "index", "metacopy", "redirect_dir":
			if val != "off" {
				return nil, "", "", fmt.Errorf("option %q", opt)
			}
		default:
			return nil, "", "", fmt.Errorf("unknown option %q", opt)
		}
	}
	slices.Reverse(lowers)
	return lowers, upper, work, nil
}

func splitUnescaped(s string, sep byte, drop bool) []string {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s):
			if !drop {
				cur.WriteByte('\\')
			}
			i++
			cur.WriteByte(s[i])
		case s[i] == sep:
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(s[i])
		}
	}
	return append(parts, cur.String())
}

func unescape(s string) string {
	return strings.Join(splitUnescaped(s, 0, true), "")
}

func resolveAt(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

func FuzzOverlayMountData(f *testing.F) {
	f.Add("/s/layers/a\n/s/layers/b", "/s/up", "/s/work")
	f.Add("/a:b\n/c,d\n/e\\f", "/u,", "/w:")
	f.Add("/x/y/z\n/x/y\n/x", "/x/y/u", "/x/w")
	f.Add("/l\\:\n/l\\\\:\n/l::\n/l,,", "/u\\", "/w\\,")
	f.Add(strings.Join(manyDirs("/var/lib/builder/layers", 60, 70), "\n"), "/var/lib/builder/up", "/var/lib/builder/work")
	f.Fuzz(func(t *testing.T, lowers, upper, work string) {
		// Only paths Run accepts reach overlayMountData.
		var o Overlay
		for _, l := range strings.Split(lowers, "\n") {
			p, err := hostPath("lower", "/"+l)
			if err != nil {
				return
			}
			o.LowerDirs = append(o.LowerDirs, p)
		}
		var err error
		if o.UpperDir, err = hostPath("upper", "/"+upper); err != nil {
			return
		}
		if o.WorkDir, err = hostPath("work", "/"+work); err != nil {
			return
		}
		d, err := overlayMountData(o, 1<<30)
		if err != nil {
			t.Fatalf("unlimited page: %v", err)
		}
		gotLowers, gotUpper, gotWork, err := parseOverlayData(d.dir, d.data)
		if err != nil {
			t.Fatalf("data %q: %v", d.data, err)
		}
		if !slices.Equal(gotLowers, o.LowerDirs) || gotUpper != o.UpperDir || gotWork != o.WorkDir {
			t.Fatalf("data %q from %q reads back as %q %q %q, want %q %q %q",
				d.data, d.dir, gotLowers, gotUpper, gotWork, o.LowerDirs, o.UpperDir, o.WorkDir)
		}
		if strings.Contains(d.data, "/../") || strings.HasPrefix(d.data, "../") || strings.Contains(d.data, "=../") || strings.Contains(d.data, ":../") {
			t.Fatalf("data %q climbs out of %q", d.data, d.dir)
		}
		small, err := overlayMountData(o, 4096)
		switch {
		case err == nil && len(small.data) >= 4096:
			t.Fatalf("accepted %d bytes of mount data", len(small.data))
		case err != nil && (!errors.Is(err, ErrOverlayTooLong) || len(d.data) < 4096):
			t.Fatalf("refused %d bytes: %v", len(d.data), err)
		}
	})
}
