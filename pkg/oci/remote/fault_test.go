package remote

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/pkg/oci"
)

// faulty runs fault on the first n requests for which match is true and
// passes everything else to the registry.
func faulty(match func(*http.Request) bool, n int, fault func(next http.Handler, w http.ResponseWriter, r *http.Request)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		var mu sync.Mutex
		left := n
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			hit := match(r) && left > 0
			if hit {
				left--
			}
			mu.Unlock()
			if hit {
				fault(next, w, r)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func isBlobGet(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:")
}

func isManifestGet(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/")
}

func unavailable(_ http.Handler, w http.ResponseWriter, _ *http.Request) {
	http.Error(w, "try later", http.StatusServiceUnavailable)
}

// resetMidBody sends the headers and half of the real body, then breaks
// the connection with a TCP reset.
func resetMidBody(next http.Handler, w http.ResponseWriter, r *http.Request) {
	body := blobBodyFrom(next, r)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body[:len(body)/2])
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	conn, _, err := rc.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // close with RST rather than FIN
	}
	_ = conn.Close()
}

func blobBodyFrom(next http.Handler, r *http.Request) []byte {
	rec := &bufferWriter{header: http.Header{}}
	next.ServeHTTP(rec, r.Clone(r.Context()))
	return rec.body
}

// bufferWriter is a minimal ResponseWriter that keeps the body.
type bufferWriter struct {
	header http.Header
	body   []byte
	code   int
}

func (b *bufferWriter) Header() http.Header { return b.header }
func (b *bufferWriter) Write(p []byte) (int, error) {
	b.body = append(b.body, p...)
	return len(p), nil
}
func (b *bufferWriter) WriteHeader(code int) { b.code = code }

func TestPullRetriesTransientFailures(t *testing.T) {
	tests := []struct {
		name   string
		match  func(*http.Request) bool
		n      int
		fault  func(http.Handler, http.ResponseWriter, *http.Request)
		minGet int // GET requests for blobs, counting the failed ones
	}{
		{"503 on manifest", isManifestGet, 2, unavailable, 3},
		{"503 on blobs", isBlobGet, 2, unavailable, 5},
		{"connection reset mid-blob", isBlobGet, 1, resetMidBody, 4},
		{"two resets mid-blob", isBlobGet, 2, resetMidBody, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := startRegistry(t, faulty(tt.match, tt.n, tt.fault))
			ref := reg.ref("app:v1")
			src := writeRandom(t, ref, 64<<10, 2)
			reg.reset()
			s := newStore(t)
			img, desc, err := Pull(context.Background(), ref, ocispec.Platform{}, s, fastOptions())
			if err != nil {
				t.Fatal(err)
			}
			if want := mustDigest(t, src); desc.Digest != want {
				t.Errorf("manifest %s, want %s", desc.Digest, want)
			}
			layers, err := src.Layers()
			if err != nil {
				t.Fatal(err)
			}
			for i, l := range layers {
				if string(storeBytes(t, s, img.Layers[i].Digest)) != string(compressedBytes(t, l)) {
					t.Errorf("layer %d content differs after retries", i)
				}
			}
			if got := reg.count("GET", "/blobs/") + reg.count("GET", "/manifests/"); got < tt.minGet {
				t.Errorf("%d GET requests; the fault was not hit", got)
			}
			if left := tmpEntries(t, s); len(left) != 0 {
				t.Errorf("ingest leftovers: %v", left)
			}
		})
	}
}

func TestPullGivesUpOnPersistentFailure(t *testing.T) {
	reg := startRegistry(t, faulty(isBlobGet, 1000, unavailable))
	ref := reg.ref("app:v1")
	writeRandom(t, ref, 1024, 1)
	s := newStore(t)
	_, _, err := Pull(context.Background(), ref, ocispec.Platform{}, s, fastOptions())
	if err == nil {
		t.Fatal("pull succeeded against a registry that always fails")
	}
	if !strings.Contains(err.Error(), ref) || !strings.Contains(err.Error(), "503") {
		t.Errorf("error %q should name the ref and the status", err)
	}
}

func TestPullCancelled(t *testing.T) {
	reg := startRegistry(t, faulty(isBlobGet, 1000, unavailable))
	ref := reg.ref("app:v1")
	writeRandom(t, ref, 1024, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := Pull(ctx, ref, ocispec.Platform{}, newStore(t), Options{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

func TestPullRejectsTamperedBlob(t *testing.T) {
	tests := []struct {
		name   string
		tamper func([]byte) []byte
	}{
		{"flipped byte", func(b []byte) []byte { b[len(b)/2] ^= 0xff; return b }},
		{"truncated", func(b []byte) []byte { return b[:len(b)-10] }},
		{"extended", func(b []byte) []byte { return append(b, "extra bytes"...) }},
		{"replaced", func(b []byte) []byte { return []byte("something else entirely") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var target digest.Digest
			tamper := func(next http.Handler, w http.ResponseWriter, r *http.Request) {
				body := tt.tamper(blobBodyFrom(next, r))
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write(body)
			}
			reg := startRegistry(t, faulty(func(r *http.Request) bool {
				return isBlobGet(r) && target != "" && strings.HasSuffix(r.URL.Path, target.String())
			}, 1000, tamper))
			ref := reg.ref("app:v1")
			src := writeRandom(t, ref, 8192, 1)
			layers, err := src.Layers()
			if err != nil {
				t.Fatal(err)
			}
			target = mustDigest(t, layers[0])
			s := newStore(t)
			_, _, err = Pull(context.Background(), ref, ocispec.Platform{}, s, fastOptions())
			if !errors.Is(err, ErrDigestMismatch) {
				t.Fatalf("got %v, want ErrDigestMismatch", err)
			}
			var dm *oci.DigestMismatchError
			if !errors.As(err, &dm) || dm.Expected != target {
				t.Errorf("mismatch details %+v, want expected digest %s", dm, target)
			}
			if !strings.Contains(err.Error(), ref) {
				t.Errorf("error %q does not name %s", err, ref)
			}
			if s.Has(target) {
				t.Error("the tampered blob was committed")
			}
			if left := tmpEntries(t, s); len(left) != 0 {
				t.Errorf("ingest leftovers: %v", left)
			}
		})
	}
}

func TestPullRejectsTamperedManifestByDigest(t *testing.T) {
	var want digest.Digest
	tamper := func(next http.Handler, w http.ResponseWriter, r *http.Request) {
		body := blobBodyFrom(next, r)
		body = append(body, ' ') // still valid JSON, another digest
		w.Header().Set("Content-Type", oci.MediaTypeDockerManifest)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	}
	reg := startRegistry(t, faulty(func(r *http.Request) bool {
		return isManifestGet(r) && want != "" && strings.HasSuffix(r.URL.Path, want.String())
	}, 1000, tamper))
	src := writeRandom(t, reg.ref("app:v1"), 1024, 1)
	want = mustDigest(t, src)
	ref := reg.ref("app@" + want.String())
	s := newStore(t)
	_, _, err := Pull(context.Background(), ref, ocispec.Platform{}, s, fastOptions())
	if !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("got %v, want ErrDigestMismatch", err)
	}
	if s.Has(want) {
		t.Error("a manifest was stored")
	}
}

func TestPushRetriesTransientFailures(t *testing.T) {
	isUpload := func(r *http.Request) bool {
		return (r.Method == http.MethodPatch || r.Method == http.MethodPut) && strings.Contains(r.URL.Path, "/blobs/uploads/")
	}
	isManifestPut := func(r *http.Request) bool {
		return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/")
	}
	for name, match := range map[string]func(*http.Request) bool{"upload": isUpload, "manifest": isManifestPut} {
		t.Run(name, func(t *testing.T) {
			reg := startRegistry(t, faulty(match, 1, unavailable))
			s := newStore(t)
			img := localImage(t, s, map[string]string{"a": strings.Repeat("a", 10000)})
			ref := reg.ref("app:v1")
			if _, err := Push(context.Background(), img, ref, fastOptions()); err != nil {
				t.Fatal(err)
			}
			_, desc, err := Pull(context.Background(), ref, ocispec.Platform{}, newStore(t), fastOptions())
			if err != nil {
				t.Fatal(err)
			}
			local, _, err := img.Manifest(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if desc.Digest != local.Digest {
				t.Errorf("pulled %s, want %s", desc.Digest, local.Digest)
			}
		})
	}
}
