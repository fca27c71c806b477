package executor_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/ocibuilder/builder/internal/source"
	"github.com/ocibuilder/builder/internal/testutil"
)

// copyContext is the build context most COPY tests read from.
func copyContext() []testutil.Entry {
	return []testutil.Entry{
		file("a.txt", "A"),
		file("b.txt", "B"),
		file("readme.md", "R"),
		file("dir/one", "1"),
		file("dir/sub/two", "2"),
		file("src/p/a/x", "px"),
		file("src/q/a/y", "qy"),
		file("src/q/b", "qb"),
		{Path: "owned", Body: "O", UID: 1000, GID: 1000, Mode: 0o750},
	}
}

func TestCopySemantics(t *testing.T) {
	base := testutil.BaseLayout(t)
	tests := []struct {
		name  string
		df    string
		check func(t *testing.T, r *result)
	}{{
		name: "a directory source copies its contents",
		df:   "FROM scratch\nCOPY dir /x\n",
		check: func(t *testing.T, r *result) {
			if got, want := r.files(t, "/x"), []string{"one", "sub/", "sub/two"}; !slices.Equal(got, want) {
				t.Errorf("/x holds %q, want %q", got, want)
			}
		},
	}, {
		name: "a directory source into a destination ending in /",
		df:   "FROM scratch\nCOPY dir /x/\n",
		check: func(t *testing.T, r *result) {
			if got, want := r.files(t, "/x"), []string{"one", "sub/", "sub/two"}; !slices.Equal(got, want) {
				t.Errorf("/x holds %q, want %q", got, want)
			}
		},
	}, {
		name: "a directory source merges into an existing directory",
		df:   "FROM base\nCOPY dir /bin\n",
		check: func(t *testing.T, r *result) {
			r.wantFile(t, "/bin/one", "1")
			r.wantFile(t, "/bin/sub/two", "2")
			if !r.lstat(t, "/bin").IsDir() {
				t.Error("/bin is no longer a directory")
			}
		},
	}, {
		name: "a file to a destination without slash is that file",
		df:   "FROM scratch\nCOPY a.txt /f\n",
		check: func(t *testing.T, r *result) {
			r.wantFile(t, "/f", "A")
		},
	}, {
		name: "a file to a destination ending in / goes inside it",
		df:   "FROM scratch\nCOPY a.txt /d/\n",
		check: func(t *testing.T, r *result) {
			r.wantFile(t, "/d/a.txt", "A")
		},
	}, {
		name: "a file to an existing directory without slash goes inside it",
		df:   "FROM base\nCOPY a.txt /bin\n",
		check: func(t *testing.T, r *result) {
			r.wantFile(t, "/bin/a.txt", "A")
		},
	}, {
		name: "a file to a new nested path creates the parents",
		df:   "FROM scratch\nCOPY a.txt /n/e/w\n",
		check: func(t *testing.T, r *result) {
			r.wantFile(t, "/n/e/w", "A")
			if !r.lstat(t, "/n/e").IsDir() {
				t.Error("/n/e is not a directory")
			}
		},
	}, {
		name: "a file into the root",
		df:   "FROM scratch\nCOPY a.txt /\n",
		check: func(t *testing.T, r *result) {
			r.wantFile(t, "/a.txt", "A")
		},
	}, {
		name: "a wildcard matching several files",
		df:   "FROM scratch\nCOPY *.txt /w/\n",
		check: func(t *testing.T, r *result) {
			if got, want := r.files(t, "/w"), []string{"a.txt", "b.txt"}; !slices.Equal(got, want) {
				t.Errorf("/w holds %q, want %q", got, want)
			}
		},
	}, {
		name: "a wildcard in a middle component copies each matched directory's contents",
		df:   "FROM scratch\nCOPY src/*/a /w/\n",
		check: func(t *testing.T, r *result) {
			if got, want := r.files(t, "/w"), []string{"x", "y"}; !slices.Equal(got, want) {
				t.Errorf("/w holds %q, want %q", got, want)
			}
		},
	}, {
		name: "a wildcard matching one file to a file destination",
		df:   "FROM scratch\nCOPY *.md /doc\n",
		check: func(t *testing.T, r *result) {
			r.wantFile(t, "/doc", "R")
		},
	}, {
		name: "several sources into a directory",
		df:   "FROM scratch\nCOPY a.txt b.txt dir /m/\n",
		check: func(t *testing.T, r *result) {
			if got, want := r.files(t, "/m"), []string{"a.txt", "b.txt", "one", "sub/", "sub/two"}; !slices.Equal(got, want) {
				t.Errorf("/m holds %q, want %q", got, want)
			}
		},
	}, {
		name: "relative destinations resolve against WORKDIR",
		df:   "FROM scratch\nWORKDIR /app\nCOPY a.txt rel/\nCOPY b.txt .\nCOPY readme.md named\n",
		check: func(t *testing.T, r *result) {
			r.wantFile(t, "/app/rel/a.txt", "A")
			r.wantFile(t, "/app/b.txt", "B")
			r.wantFile(t, "/app/named", "R")
		},
	}, {
		name: "COPY . . copies the whole context into WORKDIR",
		df:   "FROM scratch\nWORKDIR /w\nCOPY . .\n",
		check: func(t *testing.T, r *result) {
			want := []string{"a.txt", "b.txt", "dir/", "dir/one", "dir/sub/", "dir/sub/two", "owned", "readme.md",
				"src/", "src/p/", "src/p/a/", "src/p/a/x", "src/q/", "src/q/a/", "src/q/a/y", "src/q/b"}
			if got := r.files(t, "/w"); !slices.Equal(got, want) {
				t.Errorf("/w holds %q, want %q", got, want)
			}
		},
	}, {
		name: "context files land owned by root with their mode and mtime",
		df:   "FROM scratch\nCOPY owned /o\n",
		check: func(t *testing.T, r *result) {
			if uid, gid := r.owner(t, "/o"); uid != 0 || gid != 0 {
				t.Errorf("/o owned by %d:%d, want 0:0", uid, gid)
			}
			if m := r.mode(t, "/o"); m != 0o750 {
				t.Errorf("/o has mode %v, want 0750", m)
			}
			if mt := r.lstat(t, "/o").ModTime(); !mt.Equal(testutil.TreeTime()) {
				t.Errorf("/o has mtime %v, want %v", mt, testutil.TreeTime())
			}
		},
	}, {
		name: "a later COPY replaces a file of an earlier one",
		df:   "FROM scratch\nCOPY a.txt /f\nCOPY b.txt /f\n",
		check: func(t *testing.T, r *result) {
			r.wantFile(t, "/f", "B")
			if n := len(r.img.Layers); n != 2 {
				t.Errorf("image has %d layers, want 2", n)
			}
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := build(t, spec{dockerfile: tc.df, context: copyContext(), base: base})
			tc.check(t, r)
		})
	}
}

func TestCopyDetails(t *testing.T) {
	base := testutil.BaseLayout(t, testutil.Entry{Path: "etc", Dir: true, Mode: 0o711, GID: 50})
	r := build(t, spec{
		dockerfile: `FROM base
COPY a.txt /etc/x
COPY linkdir /viadirlink/
COPY --chown=1234:5678 a.txt /newp/sub/
COPY . /
`,
		context: []testutil.Entry{
			file("a.txt", "A"),
			file("realdir/in", "I"),
			testutil.Symlink("linkdir", "realdir"),
		},
		base: base,
	})
	t.Run("parents keep their metadata", func(t *testing.T) {
		r.wantFile(t, "/etc/x", "A")
		if m := r.mode(t, "/etc"); m != 0o711 {
			t.Errorf("/etc has mode %v, want 0711", m)
		}
		if uid, gid := r.owner(t, "/etc"); uid != 0 || gid != 50 {
			t.Errorf("/etc owned by %d:%d, want 0:50", uid, gid)
		}
		if mt := r.lstat(t, "/etc").ModTime(); !mt.Equal(testutil.TreeTime()) {
			t.Errorf("/etc has mtime %v, want %v", mt, testutil.TreeTime())
		}
		if uid, gid := r.owner(t, "/etc/passwd"); uid != 0 || gid != 0 || r.read(t, "/etc/passwd") == "" {
			t.Errorf("/etc/passwd changed (owner %d:%d)", uid, gid)
		}
	})
	t.Run("a symlinked source directory is followed", func(t *testing.T) {
		if got, want := r.files(t, "/viadirlink"), []string{"in"}; !slices.Equal(got, want) {
			t.Errorf("/viadirlink holds %q, want %q", got, want)
		}
	})
	t.Run("directories made for the destination belong to --chown", func(t *testing.T) {
		for _, p := range []string{"/newp", "/newp/sub", "/newp/sub/a.txt"} {
			if uid, gid := r.owner(t, p); uid != 1234 || gid != 5678 {
				t.Errorf("%s owned by %d:%d, want 1234:5678", p, uid, gid)
			}
		}
	})
	t.Run("COPY . / keeps the root and links of the base", func(t *testing.T) {
		r.wantFile(t, "/realdir/in", "I")
		if target, err := os.Readlink(r.path("/linkdir")); err != nil || target != "realdir" {
			t.Errorf("/linkdir: target %q, err %v", target, err)
		}
		if target, err := os.Readlink(r.path("/usr/local/app")); err != nil || target != "/opt/app" {
			t.Errorf("/usr/local/app: target %q, err %v", target, err)
		}
	})
}

// The destination of a directory copy is made like any missing parent,
// and keeps its metadata when it exists: only the directory's contents
// are copied, as docker does.
func TestCopyDirectoryDestination(t *testing.T) {
	base := testutil.BaseLayout(t)
	r := build(t, spec{
		dockerfile: "FROM base\nCOPY --chown=app private /bin\nCOPY private /new/\nCOPY --chown=1234 private /owned\n",
		context: []testutil.Entry{
			{Path: "private", Dir: true, Mode: 0o700, UID: 1000, GID: 1000},
			file("private/x", "X"),
		},
		base: base,
	})
	tests := []struct {
		path     string
		mode     os.FileMode
		uid, gid uint32
	}{
		{"/bin", 0o755, 0, 0},
		{"/bin/x", 0o644, 1000, 1000},
		{"/new", 0o755, 0, 0},
		{"/new/x", 0o644, 0, 0},
		{"/owned", 0o755, 1234, 1234},
		{"/owned/x", 0o644, 1234, 1234},
	}
	for _, tc := range tests {
		if m := r.mode(t, tc.path); m != tc.mode {
			t.Errorf("%s has mode %v, want %v", tc.path, m, tc.mode)
		}
		if uid, gid := r.owner(t, tc.path); uid != tc.uid || gid != tc.gid {
			t.Errorf("%s owned by %d:%d, want %d:%d", tc.path, uid, gid, tc.uid, tc.gid)
		}
	}
	if mt := r.lstat(t, "/bin").ModTime(); !mt.Equal(testutil.TreeTime()) {
		t.Errorf("/bin has mtime %v, want the base's %v", mt, testutil.TreeTime())
	}
}

func TestCopySourceErrors(t *testing.T) {
	// The context is a directory beside "outside", which links must not
	// reach.
	parent := t.TempDir()
	ctxDir := filepath.Join(parent, "ctx")
	testutil.WriteTree(t, parent,
		file("outside/secret", "S"),
		file("ctx/a.txt", "A"),
		testutil.Symlink("ctx/abs", filepath.Join(parent, "outside", "secret")),
		testutil.Symlink("ctx/etc", "/etc"),
		testutil.Symlink("ctx/up", "../outside/secret"),
		testutil.Symlink("ctx/updir", "../outside"),
		testutil.Symlink("ctx/deep/up", "../../outside/secret"),
	)
	tests := []struct {
		name    string
		df      string
		want    string // in the message
		outside bool   // wraps source.ErrOutsideContext
	}{
		{name: "missing source", df: "FROM scratch\nCOPY nope.txt /x\n", want: "nope.txt"},
		{name: "several sources need a directory", df: "FROM scratch\nCOPY a.txt a.txt /m\n", want: "/"},
		{name: "parent of the context", df: "FROM scratch\nCOPY ../outside/secret /x\n", want: "../outside/secret", outside: true},
		{name: "dot-dot inside the path", df: "FROM scratch\nCOPY deep/../../outside/secret /x\n", outside: true},
		{name: "symlink to an absolute path outside", df: "FROM scratch\nCOPY abs /x\n", outside: true},
		{name: "symlink to a system directory", df: "FROM scratch\nCOPY etc/passwd /x\n", outside: true},
		{name: "symlink leading up", df: "FROM scratch\nCOPY up /x\n", outside: true},
		{name: "nested symlink leading up", df: "FROM scratch\nCOPY deep/up /x\n", outside: true},
		{name: "directory symlink leading up", df: "FROM scratch\nCOPY updir/secret /x\n", outside: true},
		{name: "wildcard matching a symlink leading up", df: "FROM scratch\nCOPY u* /x/\n", outside: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err, pe := buildErr(t, spec{dockerfile: tc.df, contextDir: ctxDir})
			if pe.Loc.Line != 2 {
				t.Errorf("error %v is at line %d, want 2", err, pe.Loc.Line)
			}
			if tc.want != "" && !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if got := errors.Is(err, source.ErrOutsideContext); got != tc.outside {
				t.Errorf("errors.Is(%v, ErrOutsideContext) = %v, want %v", err, got, tc.outside)
			}
		})
	}
}

func TestCopyKeepsLinks(t *testing.T) {
	r := build(t, spec{
		dockerfile: "FROM scratch\nCOPY tree /t/\nCOPY tree/rel /followed\n",
		context: []testutil.Entry{
			file("tree/one", "1"),
			testutil.Symlink("tree/rel", "one"),
			testutil.Symlink("tree/abs", "/etc/passwd"),
			testutil.Symlink("tree/dangling", "../nowhere"),
			file("tree/h1", "H"),
			{Path: "tree/h2", HardLink: "tree/h1"},
			{Path: "tree/sub/h3", HardLink: "tree/h1"},
		},
	})
	for link, target := range map[string]string{"/t/rel": "one", "/t/abs": "/etc/passwd", "/t/dangling": "../nowhere"} {
		got, err := os.Readlink(r.path(link))
		if err != nil {
			t.Errorf("%s is not a symlink: %v", link, err)
			continue
		}
		if got != target {
			t.Errorf("%s points to %q, want %q", link, got, target)
		}
	}
	// A symlink named as the source itself is followed, as docker does.
	r.wantFile(t, "/followed", "1")

	st1 := r.lstat(t, "/t/h1").Sys().(*syscall.Stat_t)
	for _, p := range []string{"/t/h2", "/t/sub/h3"} {
		st := r.lstat(t, p).Sys().(*syscall.Stat_t)
		if st.Ino != st1.Ino {
			t.Errorf("%s is not a hard link of /t/h1", p)
		}
	}
	if st1.Nlink != 3 {
		t.Errorf("/t/h1 has %d links, want 3", st1.Nlink)
	}
	r.wantFile(t, "/t/h2", "H")
}

func TestCopyChown(t *testing.T) {
	base := testutil.BaseLayout(t)
	tests := []struct {
		chown    string
		uid, gid uint32
		fromBase bool
		err      string
	}{
		{chown: "1234:5678", uid: 1234, gid: 5678},
		{chown: "1234", uid: 1234, gid: 1234},
		{chown: "0:0", uid: 0, gid: 0},
		{chown: "app", uid: 1000, gid: 1000, fromBase: true},
		{chown: "app:staff", uid: 1000, gid: 50, fromBase: true},
		{chown: "www:50", uid: 33, gid: 50, fromBase: true},
		{chown: "1234:staff", uid: 1234, gid: 50, fromBase: true},
		{chown: "nosuchuser", fromBase: true, err: "nosuchuser"},
		{chown: "app:nosuchgroup", fromBase: true, err: "nosuchgroup"},
		{chown: "app", err: "/etc/passwd"},
	}
	for _, tc := range tests {
		name := tc.chown
		if tc.fromBase {
			name += "/base"
		}
		t.Run(name, func(t *testing.T) {
			from := "scratch"
			if tc.fromBase {
				from = "base"
			}
			s := spec{
				dockerfile: "FROM " + from + "\nCOPY --chown=" + tc.chown + " dir /x/\nCOPY --chown=" + tc.chown + " a.txt /f\n",
				context:    copyContext(),
				base:       base,
			}
			if tc.err != "" {
				err, pe := buildErr(t, s)
				if !strings.Contains(err.Error(), tc.err) {
					t.Errorf("error %q does not mention %q", err, tc.err)
				}
				if pe.Loc.Line != 2 {
					t.Errorf("error %v is at line %d, want 2", err, pe.Loc.Line)
				}
				return
			}
			r := build(t, s)
			for _, p := range []string{"/x/one", "/x/sub", "/x/sub/two", "/f"} {
				if uid, gid := r.owner(t, p); uid != tc.uid || gid != tc.gid {
					t.Errorf("%s owned by %d:%d, want %d:%d", p, uid, gid, tc.uid, tc.gid)
				}
			}
		})
	}
}

func TestCopyChmod(t *testing.T) {
	tests := []struct {
		chmod string
		want  os.FileMode
	}{
		{"0755", 0o755},
		{"755", 0o755},
		{"0600", 0o600},
		{"4755", 0o755 | os.ModeSetuid},
		{"2750", 0o750 | os.ModeSetgid},
	}
	for _, tc := range tests {
		t.Run(tc.chmod, func(t *testing.T) {
			r := build(t, spec{
				dockerfile: "FROM scratch\nCOPY --chmod=" + tc.chmod + " a.txt /f\nCOPY --chmod=" + tc.chmod + " dir /d/\n",
				context:    copyContext(),
			})
			for _, p := range []string{"/f", "/d/one", "/d/sub", "/d/sub/two"} {
				if m := r.mode(t, p); m != tc.want {
					t.Errorf("%s has mode %v, want %v", p, m, tc.want)
				}
			}
		})
	}
	// As in docker, directories the copy creates take the permission bits
	// of --chmod (not its special bits); directories the image has keep
	// their mode.
	t.Run("directories made for the destination", func(t *testing.T) {
		r := build(t, spec{
			dockerfile: "FROM base\nCOPY --chmod=0644 a.txt /etc/app/\nCOPY --chmod=0600 dir /d/\nCOPY --chmod=0600 b.txt /n/e/w\n" +
				"COPY --chmod=777 dir /new777\nCOPY --chmod=777 dir /new777s/\nCOPY --chmod=2750 dir /sg\n" +
				"COPY --chmod=0700 dir /bin\nCOPY --chmod=0700 <<EOF /h/doc\nx\nEOF\n",
			context: copyContext(),
			base:    testutil.BaseLayout(t),
		})
		for p, want := range map[string]os.FileMode{
			"/etc": 0o755, "/etc/app": 0o644, "/etc/app/a.txt": 0o644,
			"/d": 0o600, "/d/sub": 0o600, "/d/one": 0o600,
			"/n": 0o600, "/n/e": 0o600, "/n/e/w": 0o600,
			"/new777": 0o777, "/new777/sub": 0o777, "/new777/one": 0o777, "/new777s": 0o777,
			"/sg": 0o750, "/sg/sub": 0o750 | os.ModeSetgid, "/sg/one": 0o750 | os.ModeSetgid,
			"/bin": 0o755, "/bin/one": 0o700,
			"/h": 0o700, "/h/doc": 0o700,
		} {
			if m := r.mode(t, p); m != want {
				t.Errorf("%s has mode %v, want %v", p, m, want)
			}
		}
	})
	t.Run("invalid", func(t *testing.T) {
		err, _ := buildErr(t, spec{dockerfile: "FROM scratch\nCOPY --chmod=9z a.txt /f\n", context: copyContext()})
		if !strings.Contains(err.Error(), "9z") {
			t.Errorf("error %q does not name the mode", err)
		}
	})
}

func TestCopyFromStage(t *testing.T) {
	base := testutil.BaseLayout(t,
		testutil.Entry{Path: "home/app", Dir: true, UID: 1000, GID: 1000, Mode: 0o750},
		testutil.Entry{Path: "home/app/.profile", Body: "P", UID: 1000, GID: 1000, Mode: 0o640},
		file("opt/app/f", "F"),
	)
	r := build(t, spec{
		dockerfile: `FROM base AS builder
COPY --chown=1234:5678 a.txt /out/a.txt
FROM scratch
COPY --from=builder /out/a.txt /by-name
COPY --from=0 /out/a.txt /by-index
COPY --from=builder /home/app /home/app
COPY --from=builder /usr/local/app/f /through-link
COPY --from=base /home/app/.profile /from-image
`,
		context: copyContext(),
		base:    base,
	})
	tests := []struct {
		path     string
		body     string
		uid, gid uint32
		mode     os.FileMode
	}{
		{"/by-name", "A", 1234, 5678, 0o644},
		{"/by-index", "A", 1234, 5678, 0o644},
		{"/home/app/.profile", "P", 1000, 1000, 0o640},
		{"/through-link", "F", 0, 0, 0o644},
		{"/from-image", "P", 1000, 1000, 0o640},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			r.wantFile(t, tc.path, tc.body)
			if uid, gid := r.owner(t, tc.path); uid != tc.uid || gid != tc.gid {
				t.Errorf("owned by %d:%d, want %d:%d", uid, gid, tc.uid, tc.gid)
			}
			if m := r.mode(t, tc.path); m != tc.mode {
				t.Errorf("mode %v, want %v", m, tc.mode)
			}
		})
	}
	// Only the stage's contents are copied, not the stage's base.
	if r.exists("/etc/passwd") {
		t.Error("the scratch stage holds /etc/passwd of the stage it copied from")
	}
}

func TestCopyThroughSymlinkedDestination(t *testing.T) {
	host := t.TempDir() // must stay empty
	up := strings.Repeat("../", 16) + strings.TrimPrefix(host, "/")
	base := testutil.BaseLayout(t,
		testutil.Symlink("hostabs", host),
		testutil.Symlink("hostrel", up),
	)
	r := build(t, spec{
		dockerfile: `FROM base
COPY a.txt /usr/local/app/
COPY b.txt /usr/local/app/sub/new
COPY a.txt /hostabs/
COPY b.txt /hostrel/escaped
ADD arch.tar /usr/local/app/unpacked/
ADD arch.tar /hostabs/
`,
		context: append(copyContext(), file("arch.tar", string(makeTar(t, tarEntry{name: "in-tar", body: "I"})))),
		base:    base,
	})
	r.wantFile(t, "/opt/app/a.txt", "A")
	r.wantFile(t, "/opt/app/sub/new", "B")
	r.wantFile(t, "/opt/app/unpacked/in-tar", "I")
	if target, err := os.Readlink(r.path("/usr/local/app")); err != nil || target != "/opt/app" {
		t.Errorf("/usr/local/app is no longer the symlink to /opt/app (target %q, err %v)", target, err)
	}
	// Links leaving the image root end at its root, as inside a chroot.
	r.wantFile(t, host+"/a.txt", "A")
	r.wantFile(t, host+"/escaped", "B")
	r.wantFile(t, host+"/in-tar", "I")
	ents, err := os.ReadDir(host)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("the build wrote %s on the host", filepath.Join(host, e.Name()))
	}
}

func TestCopyHeredoc(t *testing.T) {
	r := build(t, spec{
		dockerfile: "FROM scratch\nCOPY <<EOF /etc/greeting\nhello\nworld\nEOF\nCOPY <<one.txt <<two.txt /h/\n1\none.txt\n2\ntwo.txt\n",
		noContext:  true,
	})
	r.wantFile(t, "/etc/greeting", "hello\nworld\n")
	if m := r.mode(t, "/etc/greeting"); m != 0o644 {
		t.Errorf("/etc/greeting has mode %v, want 0644", m)
	}
	if uid, gid := r.owner(t, "/etc/greeting"); uid != 0 || gid != 0 {
		t.Errorf("/etc/greeting owned by %d:%d, want 0:0", uid, gid)
	}
	r.wantFile(t, "/h/one.txt", "1\n")
	r.wantFile(t, "/h/two.txt", "2\n")
}

func TestCopyWithoutContext(t *testing.T) {
	err, _ := buildErr(t, spec{dockerfile: "FROM scratch\nCOPY a.txt /\n", noContext: true})
	if !strings.Contains(err.Error(), "a.txt") {
		t.Errorf("error %q does not name the source", err)
	}
}
