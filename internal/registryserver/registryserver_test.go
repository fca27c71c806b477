package registryserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// requireRegistry fails the test when docker-registry is missing: a
// skipped test would hide that the server was never exercised.
func requireRegistry(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath(DefaultBinary); err != nil {
		t.Fatalf("%s is required by this test: install it (make test-deps): %v", DefaultBinary, err)
	}
}

func start(t *testing.T, o Options) *Server {
	t.Helper()
	s, err := Start(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// getV2 returns GET /v2/'s status and headers.
func getV2(t *testing.T, host string) (int, http.Header) {
	t.Helper()
	resp, err := http.Get("http://" + host + "/v2/")
	if err != nil {
		t.Fatalf("GET /v2/: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// pushBlob uploads data to repo in two steps (start an upload, then finish
// it with the digest) and returns the digest.
func pushBlob(t *testing.T, host, repo string, data []byte) string {
	t.Helper()
	sum := sha256.Sum256(data)
	dgst := "sha256:" + hex.EncodeToString(sum[:])
	base := &url.URL{Scheme: "http", Host: host}
	resp, err := http.Post("http://"+host+"/v2/"+repo+"/blobs/uploads/", "", nil)
	if err != nil {
		t.Fatalf("starting upload: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("starting upload: %s", resp.Status)
	}
	loc, err := base.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatalf("upload location: %v", err)
	}
	q := loc.Query()
	q.Set("digest", dgst)
	loc.RawQuery = q.Encode()
	req, err := http.NewRequest(http.MethodPut, loc.String(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("finishing upload: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("finishing upload: %s", resp.Status)
	}
	return dgst
}

func headBlob(t *testing.T, host, repo, dgst string) int {
	t.Helper()
	resp, err := http.Head("http://" + host + "/v2/" + repo + "/blobs/" + dgst)
	if err != nil {
		t.Fatalf("HEAD blob: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestStartStop(t *testing.T) {
	requireRegistry(t)
	dir := t.TempDir()
	s := start(t, Options{Dir: dir})

	if !strings.HasPrefix(s.Host(), "127.0.0.1:") {
		t.Errorf("Host = %q, want a loopback address", s.Host())
	}
	if want := filepath.Join(dir, "storage"); s.StorageDir() != want {
		t.Errorf("StorageDir = %q, want %q", s.StorageDir(), want)
	}
	status, h := getV2(t, s.Host())
	if status != http.StatusOK {
		t.Fatalf("GET /v2/ = %d, want 200", status)
	}
	token := h.Get(tokenHeader)
	config, err := os.ReadFile(s.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	if token == "" || !strings.Contains(string(config), token) {
		t.Errorf("GET /v2/ carries token %q, not the one in its config:\n%s", token, config)
	}
	if err := syscall.Kill(s.Pid(), 0); err != nil {
		t.Fatalf("server pid %d is not running: %v", s.Pid(), err)
	}

	s.Stop()
	s.Stop()
	if err := syscall.Kill(s.Pid(), 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("server pid %d still exists after Stop: %v", s.Pid(), err)
	}
	if resp, err := http.Get("http://" + s.Host() + "/v2/"); err == nil {
		resp.Body.Close()
		t.Errorf("GET /v2/ answered %s after Stop", resp.Status)
	}
}

func TestRestartKeepsStorage(t *testing.T) {
	requireRegistry(t)
	dir := t.TempDir()
	first := start(t, Options{Dir: dir})
	dgst := pushBlob(t, first.Host(), "keep/me", []byte("kept across starts\n"))
	first.Stop()

	second := start(t, Options{Dir: dir})
	if second.ConfigPath() != first.ConfigPath() || second.StorageDir() != first.StorageDir() {
		t.Errorf("second start uses %s and %s, want the first's %s and %s",
			second.ConfigPath(), second.StorageDir(), first.ConfigPath(), first.StorageDir())
	}
	if status := headBlob(t, second.Host(), "keep/me", dgst); status != http.StatusOK {
		t.Errorf("HEAD of the blob pushed before the restart = %d, want 200", status)
	}
}

func TestStartWithHtpasswd(t *testing.T) {
	requireRegistry(t)
	dir := t.TempDir()
	h, err := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte("user:"+string(h)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := start(t, Options{Dir: dir, Htpasswd: htpasswd, Realm: "unit-realm"})

	status, hdr := getV2(t, s.Host())
	if status != http.StatusUnauthorized || !strings.Contains(hdr.Get("WWW-Authenticate"), `realm="unit-realm"`) {
		t.Errorf("GET /v2/ without credentials = %d %q, want 401 with the realm", status, hdr.Get("WWW-Authenticate"))
	}
	req, err := http.NewRequest(http.MethodGet, "http://"+s.Host()+"/v2/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("user", "secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /v2/ with credentials = %s, want 200", resp.Status)
	}
}

func TestStartMissingBinary(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-registry")
	for _, tc := range []struct {
		name, bin string
		want      error
	}{
		{name: "path", bin: missing, want: fs.ErrNotExist},
		{name: "name", bin: "no-such-registry-program", want: exec.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := Start(t.Context(), Options{Binary: tc.bin, Dir: dir})
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.bin) {
				t.Fatalf("Start = %v, want %v naming %s", err, tc.want, tc.bin)
			}
		})
	}
}

// fakeServer writes a program that prints line to stderr and exits 1.
func fakeServer(t *testing.T, line string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fake-registry")
	if err := os.WriteFile(p, []byte("#!/bin/sh\necho '"+line+"' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStartServerExits(t *testing.T) {
	var out bytes.Buffer
	_, err := Start(t.Context(), Options{Binary: fakeServer(t, "config is broken"), Dir: t.TempDir(), Output: &out})
	if err == nil {
		t.Fatal("Start succeeded with a server that exits")
	}
	msg := err.Error()
	if !strings.Contains(msg, "exited before answering") || !strings.Contains(msg, "config is broken") || !strings.Contains(msg, "(try 1)") {
		t.Errorf("Start = %v, want the exit, the output and no retry", err)
	}
	if out.String() != "config is broken\n" {
		t.Errorf("Options.Output got %q, want the server's output", out.String())
	}
}

func TestStartRetriesAddressInUse(t *testing.T) {
	var out bytes.Buffer
	bin := fakeServer(t, "listen tcp 127.0.0.1:1: bind: address already in use")
	_, err := Start(t.Context(), Options{Binary: bin, Dir: t.TempDir(), Output: &out})
	if !errors.Is(err, errAddrInUse) || !strings.Contains(err.Error(), "(try 5)") {
		t.Fatalf("Start = %v, want address in use after 5 tries", err)
	}
	if n := strings.Count(out.String(), "address already in use"); n != portTries {
		t.Errorf("the server ran %d times, want %d", n, portTries)
	}
}

func TestWaitReadyRejectsForeignServer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		want    error
	}{
		{name: "foreign server", handler: func(w http.ResponseWriter, _ *http.Request) {}, want: errAddrInUse},
		{name: "other token", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set(tokenHeader, "someone-else")
			w.WriteHeader(http.StatusUnauthorized)
		}, want: errAddrInUse},
		{name: "ours", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set(tokenHeader, "tok")
			w.WriteHeader(http.StatusUnauthorized)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			s := &Server{host: srv.Listener.Addr().String(), out: &tailBuffer{max: 16}, done: make(chan struct{})}
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			err := s.waitReady(ctx, "tok")
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("waitReady = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestTailBuffer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		writes []string
		want   string
	}{
		{name: "under", writes: []string{"ab", "cd"}, want: "abcd"},
		{name: "exact", writes: []string{"abcde"}, want: "abcde"},
		{name: "over in one", writes: []string{"abcdefgh"}, want: "defgh"},
		{name: "over across", writes: []string{"abc", "def", "gh"}, want: "defgh"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var all bytes.Buffer
			b := &tailBuffer{max: 5, extra: &all}
			for _, w := range tc.writes {
				if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
			}
			if got := b.String(); got != tc.want {
				t.Errorf("kept %q, want %q", got, tc.want)
			}
			if got, want := all.String(), strings.Join(tc.writes, ""); got != want {
				t.Errorf("copied %q, want %q", got, want)
			}
		})
	}
}

// TestLogFile checks that the server's output goes to Options.LogFile too,
// and that the file is closed by Stop (a second Stop is harmless). The
// server is wrapped in a script that writes a line first: at its log level
// the registry itself says nothing when all is well.
func TestLogFile(t *testing.T) {
	requireRegistry(t)
	real, err := exec.LookPath(DefaultBinary)
	if err != nil {
		t.Fatal(err)
	}
	wrapper := filepath.Join(t.TempDir(), "registry")
	if err := os.WriteFile(wrapper, []byte("#!/bin/sh\necho wrapper-says-hello >&2\nexec "+real+" \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(t.TempDir(), "registry.log")
	s, err := Start(t.Context(), Options{Binary: wrapper, Dir: t.TempDir(), LogFile: log})
	if err != nil {
		t.Fatal(err)
	}
	s.Stop()
	s.Stop()
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "wrapper-says-hello") || !strings.Contains(s.Output(), "wrapper-says-hello") {
		t.Errorf("log file:\n%s\noutput:\n%s\nwant the server's line in both", data, s.Output())
	}
	if err := s.logFile.Close(); err == nil {
		t.Error("the log file is still open after Stop")
	}
}
