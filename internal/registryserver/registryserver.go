// Package registryserver runs a real registry server (distribution v2,
// the docker-registry program) on a loopback port with plain HTTP, for the
// tests and the benchmark harness.
package registryserver

import (
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
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ocibuilder/builder/internal/fsutil"
)

// DefaultBinary is the program Start runs when Options.Binary is empty:
// Debian's build of the distribution registry, looked up in PATH.
const DefaultBinary = "docker-registry"

// StartTimeout bounds how long a server may take to answer its first
// request; it normally does within a few hundred milliseconds.
const StartTimeout = 30 * time.Second

// portTries is how often Start picks another port when the one it chose
// was taken between choosing and binding.
const portTries = 5

// outputMax is how much of the server's output a Server keeps.
const outputMax = 64 << 10

// tokenHeader carries a value unique to one start of a server in every
// response, so that readiness is never taken from another server that
// grabbed the port between choosing and binding it.
const tokenHeader = "X-Registryserver-Token"

// Options configure Start.
type Options struct {
	// Binary is the registry program; DefaultBinary when empty.
	Binary string
	// Dir holds the configuration (config.yml) and the storage (the
	// directory "storage", distribution's filesystem driver layout). Both
	// are created when missing; existing storage is served as it is.
	Dir string
	// Htpasswd, when set, is an htpasswd file of bcrypt hashes; the server
	// then requires HTTP basic authentication.
	Htpasswd string
	// Realm is the authentication realm when Htpasswd is set; "registry"
	// when empty.
	Realm string
	// Output, when set, receives everything the server writes to its
	// standard output and error, in addition to what Output keeps.
	Output io.Writer
	// LogFile, when set, is a file the server's output is appended to
	// as well (created when missing), closed once the server stops.
	LogFile string
}

// Server is one running registry server.
type Server struct {
	host    string
	storage string
	config  string
	cmd     *exec.Cmd
	out     *tailBuffer
	logFile *os.File // Options.LogFile, closed by Stop
	done    chan struct{}
	err     error // Wait's result, set before done closes
	once    sync.Once
}

// Start runs the registry on a free loopback port with deletes enabled
// and no access log, and returns once GET /v2/ answers 200 (open) or 401
// (authentication on) with this start's token. ctx bounds the start only:
// the server runs until Stop. The server is killed with its parent thread,
// so that a process killed hard does not leave it behind.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Dir == "" {
		return nil, errors.New("starting registry: no directory given")
	}
	bin := o.Binary
	if bin == "" {
		bin = DefaultBinary
	}
	bin, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("starting registry: %w", err)
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("starting registry: %w", err)
	}
	htpasswd := o.Htpasswd
	if htpasswd != "" {
		if htpasswd, err = filepath.Abs(htpasswd); err != nil {
			return nil, fmt.Errorf("starting registry: %w", err)
		}
	}
	realm := o.Realm
	if realm == "" {
		realm = "registry"
	}
	storage := filepath.Join(dir, "storage")
	if err := os.MkdirAll(storage, 0o755); err != nil {
		return nil, fmt.Errorf("creating registry storage: %w", err)
	}
	config := filepath.Join(dir, "config.yml")
	output := o.Output
	var logFile *os.File
	if o.LogFile != "" {
		if logFile, err = os.OpenFile(o.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
			return nil, fmt.Errorf("starting registry: %w", err)
		}
		output = logFile
		if o.Output != nil {
			output = io.MultiWriter(o.Output, logFile)
		}
	}
	s, err := startServing(ctx, bin, config, serveConfig{storage: storage, htpasswd: htpasswd, realm: realm}, output)
	if err != nil {
		if logFile != nil {
			_ = logFile.Close() // the start's error is the one worth reporting
		}
		return nil, err
	}
	s.logFile = logFile
	return s, nil
}

// serveConfig is what each try of startServing writes into the configuration.
type serveConfig struct{ storage, htpasswd, realm string }

// startServing starts the server on a free loopback port, trying another
// port when one is taken between the check and the server's listen.
func startServing(ctx context.Context, bin, config string, c serveConfig, output io.Writer) (*Server, error) {
	storage, htpasswd, realm := c.storage, c.htpasswd, c.realm
	for try := 1; ; try++ {
		host, err := freeLoopbackAddr()
		if err != nil {
			return nil, err
		}
		token := rand.Text()
		if err := writeConfig(config, host, storage, htpasswd, realm, token); err != nil {
			return nil, err
		}
		s, err := startProcess(bin, config, output)
		if err != nil {
			return nil, err
		}
		s.host, s.storage, s.config = host, storage, config
		err = s.waitReady(ctx, token)
		if err == nil {
			return s, nil
		}
		s.Stop()
		if errors.Is(err, errAddrInUse) && try < portTries {
			continue
		}
		return nil, fmt.Errorf("starting registry on %s (try %d): %w\n%s", host, try, err, s.Output())
	}
}

// Host returns "127.0.0.1:PORT", the address the server listens on.
func (s *Server) Host() string { return s.host }

// StorageDir returns the storage root (distribution's filesystem driver
// layout), below Options.Dir.
func (s *Server) StorageDir() string { return s.storage }

// ConfigPath returns the configuration file the server runs with.
func (s *Server) ConfigPath() string { return s.config }

// Pid returns the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Output returns the last 64 KiB the server wrote to its standard output
// and error.
func (s *Server) Output() string { return s.out.String() }

// Stop kills the server and waits for it to exit; it may be called more
// than once.
func (s *Server) Stop() {
	s.once.Do(func() {
		_ = s.cmd.Process.Kill() // fails only when it has already exited
		<-s.done
		if s.logFile != nil {
			_ = s.logFile.Close() // Wait has copied the last output
		}
	})
}

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

// writeConfig writes the server's configuration: no TLS, no access log
// (a line per request is noise in a log read after a failure), and a
// fixed HTTP secret so the server does not warn about a random one.
func writeConfig(path, addr, root, htpasswd, realm, token string) error {
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
  secret: loopback-registry-secret
  headers:
    %s: [%q]
`, root, addr, tokenHeader, token)
	if htpasswd != "" {
		fmt.Fprintf(&b, `auth:
  htpasswd:
    realm: %q
    path: %q
`, realm, htpasswd)
	}
	if err := fsutil.WriteFileAtomic(path, 0o644, func(w io.Writer) error {
		_, err := io.WriteString(w, b.String())
		return err
	}); err != nil {
		return fmt.Errorf("writing registry config: %w", err)
	}
	return nil
}

// startProcess starts bin serving config, its output kept in a tail
// buffer and copied to extra when that is set.
func startProcess(bin, config string, extra io.Writer) (*Server, error) {
	s := &Server{out: &tailBuffer{max: outputMax, extra: extra}, done: make(chan struct{})}
	s.cmd = exec.Command(bin, "serve", config)
	// One writer for both streams: exec then copies them through one pipe,
	// in the order the server wrote them.
	s.cmd.Stdout = s.out
	s.cmd.Stderr = s.out
	// A caller killed hard (a test binary at its timeout) must not leave
	// servers behind.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	return s, nil
}

// errAddrInUse marks a start that lost its port to another process.
var errAddrInUse = errors.New("address already in use")

// waitReady polls GET /v2/ until the server answers 200 (open) or 401
// (authentication on) with token, the process exits, or StartTimeout
// passes.
func (s *Server) waitReady(ctx context.Context, token string) error {
	ctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.host+"/v2/", nil)
		if err != nil {
			return fmt.Errorf("making readiness request: %w", err)
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close() // a response body read to its end
			if resp.Header.Get(tokenHeader) != token {
				return fmt.Errorf("another server answers on %s: %w", s.host, errAddrInUse)
			}
			switch resp.StatusCode {
			case http.StatusOK, http.StatusUnauthorized:
				return nil
			default:
				return fmt.Errorf("GET /v2/ answered %s", resp.Status)
			}
		}
		select {
		case <-s.done:
			if strings.Contains(s.Output(), "address already in use") {
				return errAddrInUse
			}
			return fmt.Errorf("registry exited before answering: %v", s.err)
		case <-ctx.Done():
			return fmt.Errorf("waiting for GET /v2/: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// tailBuffer keeps the last max bytes written to it, and copies them to
// extra when that is set; the server writes from its own goroutine while
// callers read.
type tailBuffer struct {
	mu    sync.Mutex
	max   int
	buf   []byte
	extra io.Writer
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.extra != nil {
		// A failing copy must not stop the server's output from being
		// read (it would block on a full pipe); the tail still has it.
		_, _ = b.extra.Write(p)
	}
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
