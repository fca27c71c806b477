package testutil

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// GitServer serves the bare repositories of a directory on loopback with
// the host's git: smart HTTP (git http-backend behind net/http/cgi) and
// the git protocol (git daemon in inetd mode, one per connection), for
// as long as a test runs.
type GitServer struct {
	// Dir holds the bare repositories, NAME.git.
	Dir string
	// HTTP is the base URL of smart HTTP, "http://127.0.0.1:PORT".
	HTTP string
	// Git is the base URL of the git protocol, "git://127.0.0.1:PORT".
	Git string

	git  string   // the git program
	env  []string // the clean environment of the helper's git commands
	work string   // where work trees are
}

// GitServerOptions configure StartGitServer.
type GitServerOptions struct {
	// ProtocolV0 makes the HTTP server speak git's protocol version 0
	// only, in which a server gives out only the commits its refs
	// advertise (a fetch of another commit by its sha is refused).
	ProtocolV0 bool
}

// StartGitServer starts both servers on free loopback ports; they stop
// when the test ends. A missing git fails the test (make test-deps
// installs it).
func StartGitServer(t testing.TB, o GitServerOptions) *GitServer {
	t.Helper()
	base := t.TempDir()
	s := &GitServer{
		Dir:  filepath.Join(base, "repos"),
		git:  RequireTool(t, "git"),
		work: filepath.Join(base, "work"),
		env: []string{"PATH=" + os.Getenv("PATH"), "HOME=" + base, "GIT_CONFIG_NOSYSTEM=1",
			"GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0", "LC_ALL=C"},
	}
	for _, d := range []string{s.Dir, s.work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	httpLog := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() && httpLog.Len() > 0 {
			t.Logf("git http-backend output:\n%s", httpLog.String())
		}
	})
	var h http.Handler = &cgi.Handler{Path: s.git, Args: []string{"http-backend"}, Stderr: httpLog,
		Env: append(s.env, "GIT_PROJECT_ROOT="+s.Dir, "GIT_HTTP_EXPORT_ALL=1")}
	if o.ProtocolV0 {
		h = protocolV0(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	s.HTTP = srv.URL
	s.Git = "git://" + serveInetd(t, "git daemon", func() *exec.Cmd {
		cmd := exec.Command(s.git, "daemon", "--inetd", "--log-destination=stderr", "--export-all", "--base-path="+s.Dir, s.Dir)
		cmd.Env = s.env
		return cmd
	})
	return s
}

// protocolV0 hides the client's wish for a newer protocol from h.
func protocolV0(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del("Git-Protocol")
		h.ServeHTTP(w, r)
	})
}

// serveInetd listens on a free loopback port and runs, for each
// connection, the command newCmd makes with the connection as its
// standard input and output, as inetd would. It returns "127.0.0.1:PORT".
// When the test ends the listener closes and the commands still running
// are waited for; their output goes to the test log if the test failed.
func serveInetd(t testing.TB, what string, newCmd func() *exec.Cmd) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	logs := &lockedBuffer{}
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { runOnConn(c.(*net.TCPConn), newCmd(), logs) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		if t.Failed() && logs.Len() > 0 {
			t.Logf("%s output:\n%s", what, logs.String())
		}
	})
	return ln.Addr().String()
}

// runOnConn runs cmd on the connection c and closes it.
func runOnConn(c *net.TCPConn, cmd *exec.Cmd, out io.Writer) {
	defer c.Close()
	f, err := c.File()
	if err != nil {
		fmt.Fprintln(out, err)
		return
	}
	defer f.Close()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = f, f, out
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(out, err)
	}
}

// lockedBuffer is a buffer several servers write their output to.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Len is the number of bytes written.
func (b *lockedBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

// String is what was written.
func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// GitRepo is a bare repository of a GitServer with a work tree to
// commit from.
type GitRepo struct {
	// Name is the repository's file name in the server's Dir, NAME.git.
	Name string
	s    *GitServer
	work string
}

// NewRepo creates the bare repository name.git, whose default branch is
// main, and a work tree that pushes to it.
func (s *GitServer) NewRepo(t testing.TB, name string) *GitRepo {
	t.Helper()
	r := &GitRepo{Name: name + ".git", s: s, work: filepath.Join(s.work, name)}
	bare := filepath.Join(s.Dir, r.Name)
	s.run(t, "", "init", "-q", "--bare", "--initial-branch=main", bare)
	s.run(t, "", "init", "-q", "--initial-branch=main", r.work)
	r.Run(t, "remote", "add", "origin", bare)
	return r
}

// Bare is the host path of the bare repository.
func (r *GitRepo) Bare() string { return filepath.Join(r.s.Dir, r.Name) }

// HTTPURL is the repository's smart HTTP URL.
func (r *GitRepo) HTTPURL() string { return r.s.HTTP + "/" + r.Name }

// GitURL is the repository's git protocol URL.
func (r *GitRepo) GitURL() string { return r.s.Git + "/" + r.Name }

// Commit writes entries into the work tree (after removing the paths in
// remove), commits everything and pushes the current branch. It returns
// the new commit's sha.
func (r *GitRepo) Commit(t testing.TB, msg string, remove []string, entries ...Entry) string {
	t.Helper()
	for _, p := range remove {
		if err := os.RemoveAll(filepath.Join(r.work, filepath.FromSlash(p))); err != nil {
			t.Fatal(err)
		}
	}
	WriteTree(t, r.work, entries...)
	r.Run(t, "add", "-A")
	r.Run(t, "commit", "-q", "--allow-empty", "-m", msg)
	r.Run(t, "push", "-q", "origin", "HEAD")
	return r.Run(t, "rev-parse", "HEAD")
}

// Run runs git in the work tree, as a fixed author and committer, and
// returns its output without the final newline.
func (r *GitRepo) Run(t testing.TB, args ...string) string {
	t.Helper()
	return r.s.run(t, r.work, append([]string{"-c", "user.name=Test", "-c", "user.email=test@example.com",
		"-c", "protocol.file.allow=always"}, args...)...)
}

// run runs the server's git in dir and returns its output without the
// final newline.
func (s *GitServer) run(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(s.git, args...)
	cmd.Dir, cmd.Env = dir, s.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSuffix(string(out), "\n")
}
