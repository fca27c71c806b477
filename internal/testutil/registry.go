package testutil

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ocibuilder/builder/internal/fsutil"
)

// registryBinary is Debian's build of the distribution registry (v2).
const registryBinary = "docker-registry"

// registryStartTimeout bounds how long a registry may take to answer its
// first request; it normally does within a few hundred milliseconds.
const registryStartTimeout = 30 * time.Second

// registryPortTries is how often StartRegistry picks another port when the
// one it chose was taken between choosing and binding.
const registryPortTries = 5

// Registry is a real registry server (distribution v2) on loopback, with
// its storage in a temporary directory, running for the length of a test.
type Registry struct {
	// Host is "127.0.0.1:PORT", for references like Host+"/repo:tag".
	Host string
	// Dir is the storage root (distribution's filesystem driver layout).
	Dir string

	// user and pass are the credentials the helper methods use; empty
	// when the registry has no authentication.
	user, pass string
	// proxy is set on handles made by Proxy.
	proxy *registryProxy
	// pid and config identify the server process.
	pid    int
	config string
}

// RegistryOptions configure StartRegistry.
type RegistryOptions struct {
	// Users maps user names to passwords; when non-empty the registry
	// requires HTTP basic authentication (htpasswd, bcrypt). The helper
	// methods then authenticate as the lexically first user.
	Users map[string]string
}

// StartRegistry runs /usr/bin/docker-registry on a free loopback port
// with plain HTTP, deletes enabled and its storage in t.TempDir(), and
// returns once GET /v2/ answers. The server is killed when the test
// ends; its output goes to the test log if the test failed. A missing
// docker-registry fails the test (make test-deps installs it).
func StartRegistry(t testing.TB, o RegistryOptions) *Registry {
	t.Helper()
	bin := RequireTool(t, registryBinary)
	base := t.TempDir()
	r := &Registry{Dir: filepath.Join(base, "storage")}
	if err := os.Mkdir(r.Dir, 0o755); err != nil {
		t.Fatalf("creating registry storage: %v", err)
	}
	htpasswd := ""
	if len(o.Users) > 0 {
		htpasswd = filepath.Join(base, "htpasswd")
		if err := writeHtpasswd(htpasswd, o.Users); err != nil {
			t.Fatal(err)
		}
		names := make([]string, 0, len(o.Users))
		for u := range o.Users {
			names = append(names, u)
		}
		slices.Sort(names)
		r.user, r.pass = names[0], o.Users[names[0]]
	}
	config := filepath.Join(base, "config.yml")
	for try := 1; ; try++ {
		host, err := freeLoopbackAddr()
		if err != nil {
			t.Fatal(err)
		}
		token := rand.Text()
		if err := writeRegistryConfig(config, host, r.Dir, htpasswd, token); err != nil {
			t.Fatal(err)
		}
		proc, err := startRegistryProcess(t, bin, config)
		if err != nil {
			t.Fatal(err)
		}
		err = waitRegistryReady(t.Context(), host, token, proc)
		if err == nil {
			r.Host, r.pid, r.config = host, proc.cmd.Process.Pid, config
			return r
		}
		proc.stop()
		if errors.Is(err, errAddrInUse) && try < registryPortTries {
			continue
		}
		t.Fatalf("starting registry on %s: %v\n%s", host, err, proc.output())
	}
}

// Creds returns the "user:pass" the helper methods authenticate with, or
// "" for a registry without authentication.
func (r *Registry) Creds() string {
	if r.user == "" {
		return ""
	}
	return r.user + ":" + r.pass
}

// Ref returns the docker reference of repoTag ("repo:tag" or
// "repo@sha256:...") in this registry, without a transport prefix.
func (r *Registry) Ref(repoTag string) string { return r.Host + "/" + repoTag }

// freeLoopbackAddr returns a loopback address whose port was free a moment
// ago: distribution cannot listen on port 0 and report the port it got.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", fmt.Errorf("releasing port %s: %w", addr, err)
	}
	return addr, nil
}

// registryTokenHeader carries a value unique to one start of a registry
// in every response, so that readiness is never taken from another server
// that grabbed the port between choosing and binding it.
const registryTokenHeader = "X-Test-Registry"

// writeRegistryConfig writes the registry's configuration: no TLS, no
// access log (requests are not worth a line each in a failed test's log),
// and a fixed HTTP secret so the server does not warn about a random one.
func writeRegistryConfig(path, addr, root, htpasswd, token string) error {
	var b strings.Builder
	fmt.Fprintf(&b, `version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %q
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %q
  secret: test-registry-secret
  headers:
    %s: [%q]
`, root, addr, registryTokenHeader, token)
	if htpasswd != "" {
		fmt.Fprintf(&b, `auth:
  htpasswd:
    realm: test-registry
    path: %q
`, htpasswd)
	}
	return fsutil.WriteFileAtomic(path, 0o644, func(w io.Writer) error {
		_, err := io.WriteString(w, b.String())
		return err
	})
}

// writeHtpasswd writes users as an htpasswd file of bcrypt hashes, the
// only kind distribution accepts. The lowest cost keeps the server's
// per-request checks cheap; these passwords protect nothing.
func writeHtpasswd(path string, users map[string]string) error {
	names := make([]string, 0, len(users))
	for u := range users {
		if u == "" || strings.ContainsAny(u, ":\n") {
			return fmt.Errorf("writing htpasswd: invalid user name %q", u)
		}
		names = append(names, u)
	}
	slices.Sort(names)
	var b bytes.Buffer
	for _, u := range names {
		h, err := bcrypt.GenerateFromPassword([]byte(users[u]), bcrypt.MinCost)
		if err != nil {
			return fmt.Errorf("hashing password of %s: %w", u, err)
		}
		fmt.Fprintf(&b, "%s:%s\n", u, h)
	}
	return fsutil.WriteFileAtomic(path, 0o600, func(w io.Writer) error {
		_, err := w.Write(b.Bytes())
		return err
	})
}

// registryProcess is one running docker-registry.
type registryProcess struct {
	cmd  *exec.Cmd
	out  *tailBuffer
	done chan struct{}
	err  error // Wait's result, set before done closes
	once sync.Once
}

func startRegistryProcess(t testing.TB, bin, config string) (*registryProcess, error) {
	p := &registryProcess{out: &tailBuffer{max: 64 << 10}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, "serve", config)
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	// A test binary killed by its timeout must not leave servers behind.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() && p.out.Len() > 0 {
			t.Logf("registry output:\n%s", p.output())
		}
	})
	return p, nil
}

// stop kills the server and waits for it; it may be called more than once.
func (p *registryProcess) stop() {
	p.once.Do(func() {
		_ = p.cmd.Process.Kill() // fails only when it has already exited
		<-p.done
	})
}

func (p *registryProcess) output() string { return p.out.String() }

var errAddrInUse = errors.New("address already in use")

// waitRegistryReady polls GET /v2/ until the server answers 200 (open) or
// 401 (authentication on) with token, the process exits, or the timeout
// passes.
func waitRegistryReady(ctx context.Context, host, token string, p *registryProcess) error {
	ctx, cancel := context.WithTimeout(ctx, registryStartTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/v2/", nil)
		if err != nil {
			return fmt.Errorf("making readiness request: %w", err)
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close() // a response body read to its end
			if resp.Header.Get(registryTokenHeader) != token {
				return fmt.Errorf("another server answers on %s: %w", host, errAddrInUse)
			}
			switch resp.StatusCode {
			case http.StatusOK, http.StatusUnauthorized:
				return nil
			default:
				return fmt.Errorf("GET /v2/ answered %s", resp.Status)
			}
		}
		select {
		case <-p.done:
			if strings.Contains(p.output(), "address already in use") {
				return errAddrInUse
			}
			return fmt.Errorf("registry exited before answering: %v", p.err)
		case <-ctx.Done():
			return fmt.Errorf("waiting for GET /v2/: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// tailBuffer keeps the last max bytes written to it; the registry writes
// from its own goroutines while tests read.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.buf)
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
