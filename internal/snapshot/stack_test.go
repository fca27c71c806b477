package snapshot

import (
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// stackLayers is a three-layer view exercising every overlay rule.
func stackLayers() [][]ent {
	return [][]ent{
		{ // layer0
			d("a"), f("a/one", "1"), f("a/two", "2"), d("a/sub"), f("a/sub/deep", "d"),
			d("b"), f("b/x", "x"),
			f("c", "file c"),
			d("d"), f("d/kept", "k"),
			d("e"), f("e/bottom", "b"),
			f("gone", "g"),
			d("h"), f("h/low", "l"),
		},
		{ // layer1
			d("a"), f("a/two", "2 again"), wh("a/sub"),
			opq("b"), f("b/y", "y"),
			d("c"), f("c/inner", "i"),
			f("e", "e is a file here"),
			d("h"), f("h/mid", "m"),
		},
		{ // layer2
			d("a"), f("a/three", "3"),
			wh("gone"),
			d("d"), f("d/top", "t"),
			d("e"), f("e/top", "t"),
			d("h"), wh("h/mid"),
		},
	}
}

func TestStackLstat(t *testing.T) {
	requireRoot(t)
	base := t.TempDir()
	s := buildStack(t, base, stackLayers()...)
	layer := func(i int, p string) string { return filepath.Join(base, "layer"+string(rune('0'+i)), p) }
	tests := []struct {
		path    string
		host    string // "" when absent
		wantErr error
		isDir   bool
	}{
		{path: "", host: layer(2, ""), isDir: true},
		{path: "/", host: layer(2, ""), isDir: true},
		{path: "a/one", host: layer(0, "a/one")},
		{path: "/a/two", host: layer(1, "a/two")},
		{path: "a/three", host: layer(2, "a/three")},
		{path: "a", host: layer(2, "a"), isDir: true},
		{path: "a/sub", wantErr: fs.ErrNotExist},      // whiteout in layer1
		{path: "a/sub/deep", wantErr: fs.ErrNotExist}, // under a whiteout
		{path: "b/x", wantErr: fs.ErrNotExist},        // hidden by opaque b
		{path: "b/y", host: layer(1, "b/y")},
		{path: "c", host: layer(1, "c"), isDir: true}, // dir over file
		{path: "c/inner", host: layer(1, "c/inner")},
		{path: "gone", wantErr: fs.ErrNotExist},
		{path: "e/top", host: layer(2, "e/top")},
		{path: "e/bottom", wantErr: fs.ErrNotExist}, // the file in layer1 cuts the merge
		{path: "h/low", host: layer(0, "h/low")},
		{path: "h/mid", wantErr: fs.ErrNotExist},
		{path: "d/kept", host: layer(0, "d/kept")},
		{path: "a/one/x", wantErr: unix.ENOTDIR},
		{path: "../../a/one", host: layer(0, "a/one")}, // ".." stops at the root
		{path: "nope", wantErr: fs.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(strings.ReplaceAll(tc.path, "/", "|"), func(t *testing.T) {
			fi, err := s.Lstat(tc.path)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Lstat(%q) error = %v, want %v", tc.path, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Lstat(%q): %v", tc.path, err)
			}
			if fi.IsDir() != tc.isDir {
				t.Errorf("Lstat(%q).IsDir() = %v", tc.path, fi.IsDir())
			}
			host, err := s.HostPath(tc.path)
			if err != nil || host != tc.host {
				t.Errorf("HostPath(%q) = %q, %v; want %q", tc.path, host, err, tc.host)
			}
		})
	}
}

func TestStackReadDir(t *testing.T) {
	requireRoot(t)
	s := buildStack(t, t.TempDir(), stackLayers()...)
	tests := []struct {
		path string
		want []string
	}{
		{"", []string{"a", "b", "c", "d", "e", "h"}},
		{"a", []string{"one", "three", "two"}},
		{"b", []string{"y"}},
		{"c", []string{"inner"}},
		{"d", []string{"kept", "top"}},
		{"e", []string{"top"}},
		{"h", []string{"low"}},
	}
	for _, tc := range tests {
		t.Run("dir="+tc.path, func(t *testing.T) {
			ents, err := s.ReadDir(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range ents {
				got = append(got, e.Name())
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ReadDir(%q) = %v, want %v", tc.path, got, tc.want)
			}
		})
	}
	if _, err := s.ReadDir("a/one"); !errors.Is(err, unix.ENOTDIR) {
		t.Errorf("ReadDir of a file: %v, want ENOTDIR", err)
	}
}

func TestStackWith(t *testing.T) {
	requireRoot(t)
	base := t.TempDir()
	s := buildStack(t, base, stackLayers()[:2]...)
	top := filepath.Join(base, "top")
	buildLayer(t, top, []ent{wh("c")})
	s2 := s.With(top)
	if _, err := s.Lstat("c"); err != nil {
		t.Errorf("original stack changed: %v", err)
	}
	if _, err := s2.Lstat("c"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("c in new stack: %v, want not exist", err)
	}
	if got := s2.Dirs(); len(got) != 3 || got[2] != top {
		t.Errorf("Dirs() = %v", got)
	}
	empty := NewStack()
	if _, err := empty.Lstat(""); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("root of empty stack: %v", err)
	}
}

func TestStackOpenReadlink(t *testing.T) {
	requireRoot(t)
	s := buildStack(t, t.TempDir(),
		[]ent{f("file", "low"), l("link", "/file")},
		[]ent{f("file", "high")},
	)
	fh, err := s.Open("file")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(fh)
	must(t, fh.Close())
	if err != nil || string(b) != "high" {
		t.Errorf("Open(file) read %q, %v", b, err)
	}
	if target, err := s.Readlink("link"); err != nil || target != "/file" {
		t.Errorf("Readlink(link) = %q, %v", target, err)
	}
	if _, err := s.Readlink("file"); !errors.Is(err, unix.EINVAL) {
		t.Errorf("Readlink(file): %v, want EINVAL", err)
	}
	// The target would be read from the host's /file: refuse.
	if fh, err := s.Open("link"); !errors.Is(err, unix.ELOOP) {
		if fh != nil {
			_ = fh.Close()
		}
		t.Errorf("Open(link): %v, want ELOOP", err)
	}
}

func TestStackResolve(t *testing.T) {
	requireRoot(t)
	s := buildStack(t, t.TempDir(),
		[]ent{
			d("usr"), d("usr/bin"), f("usr/bin/tool", "t"), d("usr/lib"),
			l("bin", "usr/bin"),      // relative
			l("abs", "/usr/lib"),     // absolute: re-rooted
			l("up", "../../../../x"), // climbs above the root
			l("loop1", "loop2"), l("loop2", "loop1"),
			l("self", "self"),
			l("dangling", "missing/file"),
			d("etc"), l("etc/alt", "../usr/./bin/"),
			l("usr/lib/back", "../../bin"),
			l("rootlink", "/"),
			l("toolink", "/usr/bin/tool"),
		},
		[]ent{d("usr"), l("usr/lib", "bin")}, // a link replacing a dir in an upper layer
	)
	tests := []struct {
		path       string
		followLast bool
		want       string
		wantErr    error
	}{
		{path: "", want: ""},
		{path: "/", want: ""},
		{path: "bin/tool", want: "usr/bin/tool"},
		{path: "/bin/tool", want: "usr/bin/tool"},
		{path: "bin", want: "bin"},
		{path: "bin", followLast: true, want: "usr/bin"},
		{path: "bin/", want: "usr/bin"},
		{path: "abs", followLast: true, want: "usr/bin"}, // /usr/lib -> bin in layer1
		{path: "up", followLast: true, want: "x"},
		{path: "../../../usr/bin", want: "usr/bin"},
		{path: "usr/../../etc", want: "etc"},
		{path: "etc/alt/tool", want: "usr/bin/tool"},
		{path: "rootlink/usr/bin/tool", want: "usr/bin/tool"},
		{path: "rootlink/..", want: ""},
		{path: "bin/..", want: "usr"}, // ".." applies after the link
		{path: "loop1", want: "loop1"},
		{path: "loop1", followLast: true, wantErr: unix.ELOOP},
		{path: "loop1/x", wantErr: unix.ELOOP},
		{path: "self/x", wantErr: unix.ELOOP},
		{path: "dangling", want: "dangling"},
		{path: "dangling", followLast: true, want: "missing/file"},
		{path: "new/dir/file", want: "new/dir/file"},
		{path: "new/../bin/tool", want: "usr/bin/tool"},
		{path: "toolink/x", wantErr: unix.ENOTDIR},
		{path: "usr/bin/tool/x", wantErr: unix.ENOTDIR},
		{path: "usr/bin/tool/..", wantErr: unix.ENOTDIR},
		{path: "toolink", followLast: true, want: "usr/bin/tool"},
	}
	for _, tc := range tests {
		t.Run(strings.ReplaceAll(tc.path, "/", "|"), func(t *testing.T) {
			got, err := s.Resolve(tc.path, tc.followLast)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Resolve(%q, %v) = %q, %v; want error %v", tc.path, tc.followLast, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Resolve(%q, %v) = %q, %v; want %q", tc.path, tc.followLast, got, err, tc.want)
			}
		})
	}
}

func TestResolveErrorNamesPath(t *testing.T) {
	requireRoot(t)
	s := buildStack(t, t.TempDir(), []ent{d("usr"), f("usr/file", "")})
	_, err := s.Resolve("usr/file/sub", false)
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Path != "usr/file" {
		t.Fatalf("Resolve error = %#v, want a PathError naming usr/file", err)
	}
}
