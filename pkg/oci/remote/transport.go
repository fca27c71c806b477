package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/opencontainers/go-digest"
)

// errPlainHTTP reports a plain-HTTP request to a registry that must use TLS.
var errPlainHTTP = errors.New("plain HTTP refused: registry is neither loopback nor listed as insecure")

// schemeGuard refuses plain-HTTP requests except to loopback hosts and
// the insecure list. go-containerregistry itself falls back to HTTP for
// private (RFC 1918) addresses, which would send credentials and accept
// content over an unauthenticated channel.
type schemeGuard struct {
	next     http.RoundTripper
	insecure []string
}

func (g *schemeGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !allowsPlainHTTP(req.URL.Host, g.insecure) {
		if req.Body != nil {
			_ = req.Body.Close() // a RoundTripper must close the body, even on error
		}
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Redacted(), errPlainHTTP)
	}
	return g.next.RoundTrip(req)
}

// allowsPlainHTTP reports whether host ("name", "name:port", "[v6]:port")
// may be reached without TLS.
func allowsPlainHTTP(host string, insecure []string) bool {
	if isLoopback(host) {
		return true
	}
	name := hostname(host)
	for _, h := range insecure {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == strings.ToLower(host) || h == strings.ToLower(name) {
			return true
		}
	}
	return false
}

// hostname strips the port from host.
func hostname(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return strings.Trim(host, "[]")
}

// isLoopback reports whether host names this machine.
func isLoopback(host string) bool {
	h := strings.ToLower(hostname(host))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// isTransient reports failures worth retrying: broken or timed-out
// connections and go-containerregistry's temporary errors. The caller's
// own cancellation never is.
func isTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	// A refused connection is not retried: nothing listens there, and a
	// wrong registry name should fail at once rather than after a minute.
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var te interface{ Temporary() bool }
	return errors.As(err, &te) && te.Temporary()
}

// pushObserver reports blobs a push did not have to upload: those the
// registry answered a HEAD for (already present) and those a mount
// request linked from another repository. go-containerregistry makes
// these decisions without telling its caller.
type pushObserver struct {
	next http.RoundTripper
	rep  *reporter
}

func (p *pushObserver) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := p.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	switch {
	case req.Method == http.MethodHead && resp.StatusCode == http.StatusOK:
		if d, ok := blobDigest(req.URL.Path); ok {
			n := p.rep.size(d, resp.ContentLength)
			p.rep.report(d, ActionExists, n, n)
		}
	case req.Method == http.MethodPost && resp.StatusCode == http.StatusCreated:
		if d, err := digest.Parse(req.URL.Query().Get("mount")); err == nil {
			n := p.rep.size(d, -1)
			p.rep.report(d, ActionMounted, n, n)
		}
	}
	return resp, nil
}

// blobDigest extracts the digest from a /v2/<repo>/blobs/<digest> path.
func blobDigest(path string) (digest.Digest, bool) {
	i := strings.LastIndex(path, "/blobs/")
	if i < 0 {
		return "", false
	}
	d, err := digest.Parse(path[i+len("/blobs/"):])
	return d, err == nil
}
