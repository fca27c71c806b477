package remote

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestAllowsPlainHTTP(t *testing.T) {
	insecure := []string{"registry.lan:5000", "plain.example", " Mixed.Case:80 "}
	tests := []struct {
		host string
		want bool
	}{
		{"localhost", true},
		{"localhost:5000", true},
		{"app.localhost:5000", true},
		{"127.0.0.1:5000", true},
		{"127.0.0.2:5000", true},
		{"127.255.255.254", true},
		{"[::1]:5000", true},
		{"::1", true},
		{"registry.lan:5000", true},
		{"registry.lan:5001", false},
		{"registry.lan", false},
		{"plain.example:443", true},
		{"plain.example", true},
		{"mixed.case:80", true},
		{"10.0.0.5:5000", false},
		{"192.168.1.10", false},
		{"128.0.0.1", false},
		{"localhost.example.com", false},
		{"docker.io", false},
		{"[::2]:5000", false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			if got := allowsPlainHTTP(tt.host, insecure); got != tt.want {
				t.Errorf("allowsPlainHTTP(%q) = %v, want %v", tt.host, got, tt.want)
			}
		})
	}
}

// listenRegistry serves a registry on addr, skipping the test when the
// address is not available here.
func listenRegistry(t *testing.T, network, addr string) string {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0)))}}
	srv.Start()
	t.Cleanup(srv.Close)
	return ln.Addr().String()
}

func TestLoopbackRegistriesUsePlainHTTP(t *testing.T) {
	tests := []struct{ name, network, addr string }{
		{"127.0.0.2", "tcp4", "127.0.0.2:0"},
		{"127.1.2.3", "tcp4", "127.1.2.3:0"},
		{"ipv6 loopback", "tcp6", "[::1]:0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := listenRegistry(t, tt.network, tt.addr)
			img := localImage(t, newStore(t), map[string]string{"a": "1"})
			ref := host + "/app:v1"
			desc, err := Push(context.Background(), img, ref, fastOptions())
			if err != nil {
				t.Fatal(err)
			}
			_, got, err := Pull(context.Background(), ref, ocispec.Platform{}, newStore(t), fastOptions())
			if err != nil {
				t.Fatal(err)
			}
			if got.Digest != desc.Digest {
				t.Errorf("pulled %s, pushed %s", got.Digest, desc.Digest)
			}
		})
	}
}

// redirectingTransport dials addr whatever host a request names, so a
// plain-HTTP registry on loopback can pose as a remote one; no packet
// ever goes to the address a reference names.
func redirectingTransport(addr string) http.RoundTripper {
	d := &net.Dialer{}
	return &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}
}

func TestRemotePlainHTTPNeedsInsecure(t *testing.T) {
	reg := startRegistry(t, nil)
	img := localImage(t, newStore(t), map[string]string{"a": "1"})
	tests := []struct {
		name     string
		ref      string
		insecure []string
		wantErr  bool
	}{
		{"not listed", "registry.test:5000/app:v1", nil, true},
		{"other host listed", "registry.test:5000/app:v1", []string{"registry.test:5001"}, true},
		// go-containerregistry itself would fall back to plain HTTP here.
		{"private address not listed", "10.0.0.1:5000/app:v1", nil, true},
		{"listed with port", "registry.test:5000/app:v1", []string{"registry.test:5000"}, false},
		{"listed without port", "registry.test:5000/app:v1", []string{"registry.test"}, false},
		{"private address listed", "10.0.0.1:5000/app:v1", []string{"10.0.0.1:5000"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref := tt.ref
			reg.reset()
			o := fastOptions()
			o.Transport = redirectingTransport(reg.host)
			o.Insecure = tt.insecure
			_, err := Push(context.Background(), img, ref, o)
			if tt.wantErr {
				if err == nil {
					t.Fatal("pushed over plain HTTP to a registry not listed as insecure")
				}
				if n := reg.count("PUT", "") + reg.count("POST", "") + reg.count("PATCH", ""); n != 0 {
					t.Errorf("%d writes reached the registry over plain HTTP", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := Pull(context.Background(), ref, ocispec.Platform{}, newStore(t), o); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSchemeGuardError(t *testing.T) {
	g := &schemeGuard{next: http.DefaultTransport}
	req, err := http.NewRequest(http.MethodGet, "http://10.1.2.3/v2/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.RoundTrip(req); !errors.Is(err, errPlainHTTP) {
		t.Errorf("got %v, want errPlainHTTP", err)
	}
}
