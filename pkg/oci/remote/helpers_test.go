package remote

import (
	"archive/tar"
	"context"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	ggcrremote "github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/pkg/layer"
	"github.com/ocibuilder/builder/pkg/oci"
)

// testRegistry is go-containerregistry's in-memory registry behind an
// optional test handler, with a log of the requests it received.
type testRegistry struct {
	host string
	mu   sync.Mutex
	reqs []string // "METHOD path?query"
}

// startRegistry serves a fresh registry on 127.0.0.1. wrap, if not nil,
// sits in front of it to inject faults or demand credentials.
func startRegistry(t *testing.T, wrap func(http.Handler) http.Handler) *testRegistry {
	t.Helper()
	tr := &testRegistry{}
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.mu.Lock()
		line := r.Method + " " + r.URL.Path
		if r.URL.RawQuery != "" {
			line += "?" + r.URL.RawQuery
		}
		tr.reqs = append(tr.reqs, line)
		tr.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	tr.host = strings.TrimPrefix(srv.URL, "http://")
	return tr
}

// ref returns the reference of repoTag in this registry.
func (r *testRegistry) ref(repoTag string) string { return r.host + "/" + repoTag }

// reset forgets the requests seen so far.
func (r *testRegistry) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = nil
}

// count returns how many requests matched method and contained part.
func (r *testRegistry) count(method, part string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, q := range r.reqs {
		if strings.HasPrefix(q, method+" ") && strings.Contains(q, part) {
			n++
		}
	}
	return n
}

// uploads counts the requests that start or carry a blob upload.
func (r *testRegistry) uploads() int {
	return r.count(http.MethodPost, "/blobs/uploads/") + r.count(http.MethodPatch, "/blobs/uploads/") + r.count(http.MethodPut, "/blobs/uploads/")
}

// fastOptions retries quickly, so fault tests take milliseconds.
func fastOptions() Options { return Options{RetryDelay: time.Millisecond} }

func newStore(t *testing.T) *oci.Store {
	t.Helper()
	s, err := oci.OpenStore(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// writeRandom puts a random Docker schema 2 image at ref and returns it.
func writeRandom(t *testing.T, ref string, size, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(size, layers)
	if err != nil {
		t.Fatal(err)
	}
	writeImage(t, ref, img)
	return img
}

func writeImage(t *testing.T, ref string, img v1.Image) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := ggcrremote.Write(r, img); err != nil {
		t.Fatal(err)
	}
}

// platformImage is a random image whose config names a platform.
func platformImage(t *testing.T, p v1.Platform) v1.Image {
	t.Helper()
	img, err := random.Image(2048, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = p.OS, p.Architecture, p.Variant
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// writeIndex puts an index of the images, one per platform, at ref.
func writeIndex(t *testing.T, ref string, imgs map[*v1.Platform]v1.Image, order []*v1.Platform) v1.ImageIndex {
	t.Helper()
	var idx v1.ImageIndex = empty.Index
	for _, p := range order {
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: imgs[p], Descriptor: v1.Descriptor{Platform: p}})
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := ggcrremote.WriteIndex(r, idx); err != nil {
		t.Fatal(err)
	}
	return idx
}

func mustDigest(t *testing.T, d interface{ Digest() (v1.Hash, error) }) digest.Digest {
	t.Helper()
	h, err := d.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return digest.Digest(h.String())
}

// compressedBytes returns the blob of a go-containerregistry layer.
func compressedBytes(t *testing.T, l v1.Layer) []byte {
	t.Helper()
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// storeBytes reads a blob from the store.
func storeBytes(t *testing.T, s *oci.Store, d digest.Digest) []byte {
	t.Helper()
	b, err := s.ReadAll(d, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tmpEntries lists what is left in the store's ingest directory.
func tmpEntries(t *testing.T, s *oci.Store) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(s.Root(), "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// localImage builds an image with pkg/layer: one gzip layer per file map.
func localImage(t *testing.T, s *oci.Store, layers ...map[string]string) *oci.Image {
	t.Helper()
	ctx := context.Background()
	created := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	img := &oci.Image{Store: s}
	img.Config.Created = &created
	img.Config.Platform = ocispec.Platform{OS: "linux", Architecture: "amd64"}
	img.Config.Config.Cmd = []string{"/bin/app"}
	img.Config.RootFS.Type = "layers"
	for _, files := range layers {
		w, err := s.Writer(ctx)
		if err != nil {
			t.Fatal(err)
		}
		desc, err := layer.Encode(ctx, w, layer.EncodeOptions{Compression: layer.Gzip}, func(out io.Writer) error {
			return tarOf(out, files, created)
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := w.Commit(desc.Digest); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		img.Layers = append(img.Layers, ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size})
		img.Config.RootFS.DiffIDs = append(img.Config.RootFS.DiffIDs, desc.DiffID)
		img.Config.History = append(img.Config.History, ocispec.History{Created: &created, CreatedBy: "COPY"})
	}
	return img
}

// tarOf writes files (path → content) as a tar, in sorted order.
func tarOf(w io.Writer, files map[string]string, mtime time.Time) error {
	tw := tar.NewWriter(w)
	for _, p := range sortedKeys(files) {
		body := files[p]
		if err := tw.WriteHeader(&tar.Header{Name: p, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body)), ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return err
		}
		if _, err := io.WriteString(tw, body); err != nil {
			return err
		}
	}
	return tw.Close()
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

// recorder collects progress updates.
type recorder struct {
	mu      sync.Mutex
	updates []Update
}

func (r *recorder) add(u Update) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.updates = append(r.updates, u)
}

// actions returns the last action reported for each digest.
func (r *recorder) actions() map[digest.Digest]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[digest.Digest]string{}
	for _, u := range r.updates {
		out[u.Digest] = u.Action
	}
	return out
}
