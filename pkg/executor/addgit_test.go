package executor_test

import (
	"io/fs"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ocibuilder/builder/internal/testutil"
	"github.com/ocibuilder/builder/pkg/executor"
)

// gitFixture is a repository on a real git server with a history the
// tests pick from.
type gitFixture struct {
	srv  *testutil.GitServer
	repo *testutil.GitRepo
	// first is tagged "light" and "v1" (annotated); second is main's
	// tip; dev branches off first.
	first, second, dev string
}

func newGitFixture(t *testing.T, o testutil.GitServerOptions) *gitFixture {
	t.Helper()
	f := &gitFixture{srv: testutil.StartGitServer(t, o)}
	f.repo = f.srv.NewRepo(t, "app")
	f.first = f.repo.Commit(t, "first", nil,
		file("README", "v1\n"),
		testutil.Entry{Path: "bin/tool", Body: "#!/bin/sh\n", Mode: 0o755},
		file("sub/inner.txt", "inner\n"),
		testutil.Symlink("sub/up", "../README"),
		testutil.Symlink("etc-link", "/etc"),
		testutil.Symlink("passwd-link", "../../../../../../../../etc/passwd"))
	f.repo.Run(t, "tag", "light")
	f.repo.Run(t, "tag", "-a", "-m", "annotated", "v1")
	f.repo.Run(t, "push", "-q", "origin", "--tags")
	f.second = f.repo.Commit(t, "second", nil, file("README", "v2\n"))
	f.repo.Run(t, "checkout", "-q", "-b", "dev", f.first)
	f.dev = f.repo.Commit(t, "dev", nil, file("README", "dev\n"))
	f.repo.Run(t, "checkout", "-q", "main")
	return f
}

// TestAddGitRefs checks each way of naming what to check out: the
// default branch, a branch, tags, a commit, a subdirectory, the query
// form, over smart HTTP and the git protocol.
func TestAddGitRefs(t *testing.T) {
	f := newGitFixture(t, testutil.GitServerOptions{})
	url := f.repo.HTTPURL()
	tests := []struct {
		name, src, readme string
	}{
		{"default branch", url, "v2\n"},
		{"branch", url + "#dev", "dev\n"},
		{"lightweight tag", url + "#light", "v1\n"},
		{"annotated tag", url + "#v1", "v1\n"},
		{"commit sha", url + "#" + f.first, "v1\n"},
		{"query form", url + "?branch=dev", "dev\n"},
		{"fetch by commit", url + "?fetch-by-commit=true&checksum=" + f.dev + "#dev", "dev\n"},
		{"git protocol", f.repo.GitURL() + "#dev", "dev\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := build(t, spec{dockerfile: "FROM scratch\nADD " + tc.src + " /src\n"})
			r.wantFile(t, "/src/README", tc.readme)
			r.wantFile(t, "/src/sub/inner.txt", "inner\n")
			if r.exists("/src/.git") {
				t.Error("/src/.git exists without --keep-git-dir")
			}
		})
	}
	t.Run("subdirectory", func(t *testing.T) {
		r := build(t, spec{dockerfile: "FROM scratch\nADD " + url + "#main:sub /src/\n"})
		if got, want := r.files(t, "/src"), []string{"inner.txt", "up"}; !slices.Equal(got, want) {
			t.Errorf("/src holds %q, want %q", got, want)
		}
		if got, err := os.Readlink(r.path("/src/up")); err != nil || got != "../README" {
			t.Errorf("/src/up links to %q (%v), want ../README", got, err)
		}
	})
}

// TestAddGitMetadata checks modes, owners and symlinks of a checkout
// as ADD copies it, that links leading out of the repository are copied
// as links, never followed, and that --chown and --exclude apply.
func TestAddGitMetadata(t *testing.T) {
	f := newGitFixture(t, testutil.GitServerOptions{})
	r := build(t, spec{dockerfile: "FROM scratch\nADD " + f.repo.HTTPURL() + "#main /src\nADD --chown=7:8 " + f.repo.HTTPURL() + " /owned\n" +
		"ADD --exclude=sub --exclude=*-link " + f.repo.HTTPURL() + " /ex\n"})
	if got, want := r.files(t, "/ex"), []string{"README", "bin/", "bin/tool"}; !slices.Equal(got, want) {
		t.Errorf("--exclude: /ex holds %q, want %q", got, want)
	}
	modes := map[string]fs.FileMode{"/src/README": 0o644, "/src/bin/tool": 0o755, "/src/bin": 0o755, "/src/sub": 0o755}
	for p, m := range modes {
		if got := r.mode(t, p); got != m {
			t.Errorf("%s: mode %v, want %v", p, got, m)
		}
		if uid, gid := r.owner(t, p); uid != 0 || gid != 0 {
			t.Errorf("%s: owned by %d:%d, want 0:0", p, uid, gid)
		}
	}
	if uid, gid := r.owner(t, "/owned/README"); uid != 7 || gid != 8 {
		t.Errorf("--chown=7:8: /owned/README owned by %d:%d", uid, gid)
	}
	for p, target := range map[string]string{"/src/etc-link": "/etc", "/src/passwd-link": "../../../../../../../../etc/passwd"} {
		fi := r.lstat(t, p)
		got, err := os.Readlink(r.path(p))
		if fi.Mode()&fs.ModeSymlink == 0 || err != nil || got != target {
			t.Errorf("%s is %v -> %q (%v), want a symlink to %q", p, fi.Mode(), got, err, target)
		}
	}
}

// TestAddGitKeepGitDir checks that --keep-git-dir keeps a working
// repository at the commit, except with a subdirectory, as in BuildKit.
func TestAddGitKeepGitDir(t *testing.T) {
	f := newGitFixture(t, testutil.GitServerOptions{})
	url := f.repo.HTTPURL()
	r := build(t, spec{dockerfile: "FROM scratch\nADD --keep-git-dir=true " + url + "#dev /src\n" +
		"ADD " + url + "?keep-git-dir=true /q\nADD --keep-git-dir=true " + url + "#dev:sub /s\n"})
	git := func(dir string, args ...string) string {
		cmd := exec.Command("git", append([]string{"-C", r.path(dir)}, args...)...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=/dev/null", "GIT_CONFIG_NOSYSTEM=1"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := git("/src", "rev-parse", "HEAD"); got != f.dev {
		t.Errorf("/src/.git HEAD is %s, want dev's %s", got, f.dev)
	}
	if got := git("/src", "status", "--porcelain"); got != "" {
		t.Errorf("the kept work tree differs from its commit:\n%s", got)
	}
	if got := git("/src", "remote", "get-url", "origin"); got != url {
		t.Errorf("origin is %q, want %q", got, url)
	}
	if got := git("/q", "rev-parse", "HEAD"); got != f.second {
		t.Errorf("/q/.git HEAD is %s, want main's %s", got, f.second)
	}
	if r.exists("/s/.git") {
		t.Error("--keep-git-dir kept .git with a subdirectory")
	}
}

// TestAddGitChecksum checks --checksum against the resolved commit.
func TestAddGitChecksum(t *testing.T) {
	f := newGitFixture(t, testutil.GitServerOptions{})
	url := f.repo.HTTPURL()
	r := build(t, spec{dockerfile: "FROM scratch\nADD --checksum=" + f.second + " " + url + " /a\n" +
		"ADD --checksum=" + f.first[:12] + " " + url + "#v1 /b\n"})
	r.wantFile(t, "/a/README", "v2\n")
	r.wantFile(t, "/b/README", "v1\n")
	err, pe := buildErr(t, spec{dockerfile: "FROM scratch\nADD --checksum=" + f.first + " " + url + "#main /a\n"})
	if pe.Loc.Line != 2 {
		t.Errorf("error %v is at line %d, want 2", err, pe.Loc.Line)
	}
	for _, want := range []string{"checksum mismatch", f.first, f.second, url} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestAddGitErrors checks that bad git sources fail their step with an
// error naming the line and the repository, credentials masked.
func TestAddGitErrors(t *testing.T) {
	f := newGitFixture(t, testutil.GitServerOptions{})
	url := f.repo.HTTPURL()
	secretURL := strings.Replace(f.srv.HTTP, "http://", "http://alice:s3cret@", 1) + "/missing.git"
	tests := []struct {
		name, df string
		want     []string
	}{
		{"unknown ref", "ADD " + url + "#nope /a", []string{`no branch or tag "nope"`, url}},
		{"short sha", "ADD " + url + "#" + f.first[:10] + " /a", []string{"no branch or tag", "full sha"}},
		{"missing repository", "ADD " + secretURL + " /a", []string{"missing.git", "xxxxx"}},
		{"missing subdirectory", "ADD " + url + "#main:nothere /a", []string{"nothere", "not found"}},
		{"subdirectory through a symlink", "ADD " + url + "#main:etc-link /a", []string{"etc-link is not a directory"}},
		{"COPY", "COPY " + url + " /a", []string{"use ADD"}},
		{"checksum of two sources", "ADD --checksum=" + f.first + " " + url + " " + url + "#dev /a/", []string{"more than one source"}},
		{"bad checksum", "ADD --checksum=sha256:00 " + url + " /a", []string{"invalid checksum"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err, pe := buildErr(t, spec{dockerfile: "FROM scratch\n" + tc.df + "\n"})
			if pe.Loc.Line != 2 {
				t.Errorf("error %v is at line %d, want 2", err, pe.Loc.Line)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

// TestAddGitCache checks that the commit keys the step: the same commit
// is a cache hit without a fetch, a new one a miss that copies it.
func TestAddGitCache(t *testing.T) {
	f := newGitFixture(t, testutil.GitServerOptions{})
	s := spec{dockerfile: "FROM scratch\nADD " + f.repo.HTTPURL() + "#main /src\n", root: t.TempDir(), contextDir: t.TempDir()}
	r, l := cacheBuild(t, s, nil)
	r.wantFile(t, "/src/README", "v2\n")
	_, l = cacheBuild(t, s, nil)
	l.all(t, hit)
	third := f.repo.Commit(t, "third", nil, file("README", "v3\n"))
	r, l = cacheBuild(t, s, nil)
	l.check(t, map[string]string{"stage-0 1": "git repository " + f.repo.HTTPURL() + "#main is now at commit " + third})
	r.wantFile(t, "/src/README", "v3\n")
	_, l = cacheBuild(t, s, nil)
	l.all(t, hit)
}

// TestAddGitCommitTimes checks ?mtime=commit: every entry has the
// commit's time.
func TestAddGitCommitTimes(t *testing.T) {
	f := newGitFixture(t, testutil.GitServerOptions{})
	sec, err := strconv.ParseInt(f.repo.Run(t, "show", "-s", "--format=%ct", f.dev), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	r := build(t, spec{dockerfile: "FROM scratch\nADD " + f.repo.HTTPURL() + "?mtime=commit#dev /src\n"})
	for _, p := range []string{"/src/README", "/src/sub", "/src/etc-link"} {
		if mt := r.lstat(t, p).ModTime(); !mt.Equal(time.Unix(sec, 0)) {
			t.Errorf("%s: mtime %v, want the commit's %v", p, mt, time.Unix(sec, 0))
		}
	}
}

// TestAddGitSubmodules checks that submodules are checked out, unless
// the URL turns them off.
func TestAddGitSubmodules(t *testing.T) {
	srv := testutil.StartGitServer(t, testutil.GitServerOptions{})
	lib := srv.NewRepo(t, "lib")
	lib.Commit(t, "lib", nil, file("lib.txt", "lib\n"))
	app := srv.NewRepo(t, "app")
	app.Commit(t, "app", nil, file("app.txt", "app\n"))
	app.Run(t, "submodule", "--quiet", "add", lib.HTTPURL(), "vendor/lib")
	app.Commit(t, "with lib", nil)
	r := build(t, spec{dockerfile: "FROM scratch\nADD " + app.HTTPURL() + " /a\nADD " + app.HTTPURL() + "?submodules=false /b\n"})
	r.wantFile(t, "/a/app.txt", "app\n")
	r.wantFile(t, "/a/vendor/lib/lib.txt", "lib\n")
	if r.exists("/b/vendor/lib/lib.txt") {
		t.Error("submodules=false checked the submodule out")
	}
}

// TestAddGitUnadvertisedCommit checks that a commit no ref points to is
// fetched from a server that gives out only advertised commits
// (protocol version 0).
func TestAddGitUnadvertisedCommit(t *testing.T) {
	f := newGitFixture(t, testutil.GitServerOptions{ProtocolV0: true})
	r := build(t, spec{dockerfile: "FROM scratch\nADD " + f.repo.HTTPURL() + "#" + f.first + " /src\n"})
	r.wantFile(t, "/src/README", "v1\n")
}

// TestAddGitSSH checks ssh sources, as ssh:// and scp-like URLs, with
// the key in the ssh-agent SSH_AUTH_SOCK names, and that a server whose
// host key is not known is refused.
func TestAddGitSSH(t *testing.T) {
	f := newGitFixture(t, testutil.GitServerOptions{})
	sshd := f.srv.StartSSH(t)
	withEnv := func(env []string) func(*executor.Options) {
		return func(o *executor.Options) { o.GitEnv = env }
	}
	for _, src := range []string{f.repo.SSHURL(sshd) + "#dev", f.repo.SCPURL(sshd) + "#dev"} {
		r := mustRunBuild(t, spec{dockerfile: "FROM scratch\nADD " + src + " /src\n"}, "", withEnv(sshd.Env))
		r.wantFile(t, "/src/README", "dev\n")
	}
	_, port, _ := strings.Cut(sshd.Host, ":")
	unknown := []string{sshd.Env[0], sshd.Env[1],
		"GIT_SSH_COMMAND=ssh -F /dev/null -o BatchMode=yes -o UserKnownHostsFile=/dev/null -o GlobalKnownHostsFile=/dev/null -p " + port}
	_, err := runBuild(t, spec{dockerfile: "FROM scratch\nADD " + f.repo.SSHURL(sshd) + " /src\n"}, "", withEnv(unknown))
	if err == nil || !strings.Contains(err.Error(), "Host key verification failed") || !strings.Contains(err.Error(), "Dockerfile:2") {
		t.Errorf("error %v, want a host key failure at Dockerfile:2", err)
	}
}
