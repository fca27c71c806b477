package images

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/pkg/oci"
)

func FuzzDecodeIndexFile(f *testing.F) {
	good := fakeDesc("ab")
	f.Add([]byte(`{"schemaVersion":1,"images":{}}`))
	f.Add([]byte(`{"schemaVersion":1,"images":{"docker.io/library/app:1":` + descJSON(good) + `}}`))
	f.Add([]byte(`{"schemaVersion":1,"images":{"app":` + descJSON(good) + `}}`))
	f.Add([]byte(`{"schemaVersion":1,"images":{"docker.io/library/app:1":{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:../x","size":1}}}`))
	f.Add([]byte(`{"schemaVersion":1,"images":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		images, err := decodeIndexFile(data)
		if err != nil {
			return
		}
		for name, desc := range images {
			if n, err := tagName(name); err != nil || n != name {
				t.Fatalf("accepted name %q (normalized %q, %v)", name, n, err)
			}
			if err := checkManifestDesc(desc); err != nil {
				t.Fatalf("accepted descriptor %+v: %v", desc, err)
			}
		}
		again, err := json.Marshal(indexFile{SchemaVersion: indexFileVersion, Images: images})
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeIndexFile(again)
		if err != nil {
			t.Fatalf("re-encoded index does not decode: %v", err)
		}
		if len(back) != len(images) {
			t.Fatalf("round trip changed the index: %d → %d entries", len(images), len(back))
		}
	})
}

func FuzzResolve(f *testing.F) {
	a, b, c := fakeDesc("aa1"), fakeDesc("aa2"), fakeDesc("b")
	images := map[string]ocispec.Descriptor{
		"docker.io/library/app:1":      a,
		"docker.io/library/app:latest": b,
		"ghcr.io/org/tool:v2":          c,
	}
	for _, s := range []string{"app", "app:1", "aa", "sha256:aa1", a.Digest.String(), "app@" + a.Digest.String(), "ghcr.io/org/tool:v2", "::", "@@", "sha256:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		got, err := resolve(images, ref)
		if err != nil {
			if !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrAmbiguous) {
				t.Fatalf("resolve(%q): unexpected error kind %v", ref, err)
			}
			return
		}
		found := false
		for d := range maps.Values(images) {
			found = found || d.Digest == got.Digest
		}
		if !found {
			t.Fatalf("resolve(%q) = %s, not an indexed image", ref, got.Digest)
		}
		if want, ok := images[ref]; ok && want.Digest != got.Digest {
			t.Fatalf("resolve(%q) = %s, want the image of that exact name %s", ref, got.Digest, want.Digest)
		}
	})
}

// memSource is an in-memory blobSource: content is keyed by its own
// digest, so it always verifies.
type memSource map[digest.Digest][]byte

func (m memSource) put(mt string, data []byte) ocispec.Descriptor {
	d := digest.FromBytes(data)
	m[d] = data
	return ocispec.Descriptor{MediaType: mt, Digest: d, Size: int64(len(data))}
}

func (m memSource) ReadAll(d digest.Digest, max int64) ([]byte, error) {
	data, ok := m[d]
	if !ok {
		return nil, fmt.Errorf("blob %s: %w", d, oci.ErrNotFound)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("blob %s: %w", d, oci.ErrTooLarge)
	}
	return data, nil
}

// FuzzLoad feeds arbitrary manifest (or index) and config documents to
// Load and to the walker Prune and List use.
func FuzzLoad(f *testing.F) {
	const zero = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"CONFIG","size":0},"layers":[]}`),
		[]byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`), false)
	f.Add([]byte(`{"schemaVersion":2,"config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"CONFIG","size":0},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"`+zero+`","size":1}]}`),
		[]byte(`{"rootfs":{"diff_ids":["`+zero+`"]}}`), false)
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"`+zero+`","size":2},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"CONFIG","size":0}]}`),
		[]byte(`{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"`+zero+`","size":2}}`), true)
	f.Add([]byte(`{"config":{"digest":"sha256:../../etc/passwd"}}`), []byte(`null`), false)
	f.Fuzz(func(t *testing.T, manifest, config []byte, asIndex bool) {
		ctx := context.Background()
		src := memSource{}
		cfg := src.put(ocispec.MediaTypeImageConfig, config)
		// Seeds name the second document CONFIG; it may be a config or,
		// under an index, a manifest.
		manifest = []byte(strings.ReplaceAll(string(manifest), `"digest":"CONFIG","size":0`,
			`"digest":"`+cfg.Digest.String()+`","size":`+strconv.FormatInt(cfg.Size, 10)))
		mt := ocispec.MediaTypeImageManifest
		if asIndex {
			mt = ocispec.MediaTypeImageIndex
		}
		m := src.put(mt, manifest)
		if img, err := load(ctx, src, m); err == nil {
			if len(img.Layers) != len(img.Config.RootFS.DiffIDs) {
				t.Fatalf("loaded image has %d layers and %d diff IDs", len(img.Layers), len(img.Config.RootFS.DiffIDs))
			}
			for _, l := range img.Layers {
				if checkDigest(l.Digest) != nil {
					t.Fatalf("loaded image has layer digest %q", l.Digest)
				}
			}
		}
		var seen []digest.Digest
		w := newWalker(src, func(r reached) { seen = append(seen, r.Desc.Digest) })
		if err := w.walk(ctx, m); err == nil {
			if len(seen) == 0 || seen[0] != m.Digest {
				t.Fatalf("walk did not visit its root first: %v", seen)
			}
			for _, d := range seen {
				if checkDigest(d) != nil {
					t.Fatalf("walk reached invalid digest %q", d)
				}
			}
		}
	})
}
