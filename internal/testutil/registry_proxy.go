package testutil

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"sync"
	"testing"
)

// RegistryRequest is one request that passed through a Proxy.
type RegistryRequest struct {
	Method string
	// Path is the request's URL path, like "/v2/repo/blobs/sha256:...".
	Path string
	// Status is the registry's answer, or 502 when it could not be reached.
	Status int
}

// blobPath matches the API path of one blob (not of blob uploads).
var blobPath = regexp.MustCompile(`^/v2/.+/blobs/[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$`)

// IsBlobGet reports whether q asked for a blob's content.
func (q RegistryRequest) IsBlobGet() bool {
	return q.Method == http.MethodGet && blobPath.MatchString(q.Path)
}

// registryProxy records what a reverse proxy in front of a registry sees.
type registryProxy struct {
	mu   sync.Mutex
	reqs []RegistryRequest
}

func (p *registryProxy) record(q RegistryRequest) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reqs = append(p.reqs, q)
}

// Proxy starts a recording reverse proxy to r on another loopback port,
// for the length of the test, and returns a handle whose Host is the
// proxy's; its other methods work as r's do, through the proxy. Use
// Requests and BlobGets on the handle to see what clients fetched.
func (r *Registry) Proxy(t testing.TB) *Registry {
	t.Helper()
	target := &url.URL{Scheme: "http", Host: r.Host}
	rec := &registryProxy{}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			// The registry builds upload locations from the Host header:
			// keep the proxy's, so that uploads come back through it.
			pr.Out.Host = pr.In.Host
		},
		ModifyResponse: func(resp *http.Response) error {
			rec.record(RegistryRequest{Method: resp.Request.Method, Path: resp.Request.URL.Path, Status: resp.StatusCode})
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
			rec.record(RegistryRequest{Method: req.Method, Path: req.URL.Path, Status: http.StatusBadGateway})
			t.Logf("proxying %s %s: %v", req.Method, req.URL.Path, err)
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	h := *r
	h.Host = srv.Listener.Addr().String()
	h.proxy = rec
	return &h
}

// Requests returns the requests that went through this proxy handle so
// far, in the order the registry answered them. It panics on a handle
// that Proxy did not make, where it could only ever report nothing.
func (r *Registry) Requests() []RegistryRequest {
	if r.proxy == nil {
		panic("testutil: Requests on a registry handle without a proxy; use Registry.Proxy")
	}
	r.proxy.mu.Lock()
	defer r.proxy.mu.Unlock()
	return slices.Clone(r.proxy.reqs)
}

// BlobGets counts the blob downloads tried through this proxy handle so
// far, whatever the registry answered. It panics on a handle that Proxy
// did not make, where it could only ever report zero.
func (r *Registry) BlobGets() int {
	n := 0
	for _, q := range r.Requests() {
		if q.IsBlobGet() {
			n++
		}
	}
	return n
}
