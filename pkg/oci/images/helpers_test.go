package images

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/internal/tartest"
	"github.com/ocibuilder/builder/pkg/oci"
	"github.com/ocibuilder/builder/pkg/statedir"
)

// testState is a fresh state directory with its store and index.
type testState struct {
	root  string
	store *oci.Store
	index *Index
}

func newState(t testing.TB) testState {
	t.Helper()
	root := filepath.Join(t.TempDir(), "state")
	x, err := openIndex(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	return testState{root: root, store: x.store, index: x}
}

// openIndex opens the image index of root. It opens the state directory
// shared and closes it again: the index needs only its paths and store,
// and a test that holds no lock can prune in the same process.
func openIndex(ctx context.Context, root string) (*Index, error) {
	st, err := statedir.Open(ctx, root, statedir.Shared)
	if err != nil {
		return nil, err
	}
	x, err := Open(st)
	if err != nil {
		return nil, errors.Join(err, st.Close())
	}
	return x, st.Close()
}

// lockState holds root in mode, as a build (Shared) or a prune
// (Exclusive) does, until the returned function is called.
func lockState(ctx context.Context, root string, mode statedir.Mode) (unlock func() error, err error) {
	st, err := statedir.Open(ctx, root, mode)
	if err != nil {
		return nil, err
	}
	return st.Close, nil
}

// pruneRoot opens root exclusively, prunes it with opts and closes it.
func pruneRoot(ctx context.Context, root string, opts PruneOptions) (_ PruneReport, err error) {
	st, err := statedir.Open(ctx, root, statedir.Exclusive)
	if err != nil {
		return PruneReport{}, err
	}
	defer func() { err = errors.Join(err, st.Close()) }()
	return Prune(ctx, st, opts)
}

// testLayer is a layer blob put in a store.
type testLayer struct {
	desc   ocispec.Descriptor
	diffID digest.Digest
}

// putLayer stores an uncompressed layer holding one file with body.
func putLayer(t testing.TB, s *oci.Store, body string) testLayer {
	t.Helper()
	data := tartest.Build(t, tartest.File("f", body))
	desc, err := s.Put(context.Background(), ocispec.MediaTypeImageLayer, data)
	if err != nil {
		t.Fatal(err)
	}
	return testLayer{desc: desc, diffID: desc.Digest}
}

// testCreated is the creation time of test images.
func testCreated() time.Time { return time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC) }

// putImage stores config and manifest of an image of layers and returns
// the manifest descriptor and the image.
func putImage(t testing.TB, s *oci.Store, created time.Time, layers ...testLayer) (ocispec.Descriptor, *oci.Image) {
	t.Helper()
	img := &oci.Image{Store: s}
	img.Config.Created = &created
	img.Config.OS, img.Config.Architecture = "linux", "amd64"
	img.Config.RootFS.Type = "layers"
	img.Config.Config.Env = []string{"PATH=/bin"}
	for _, l := range layers {
		img.Layers = append(img.Layers, l.desc)
		img.Config.RootFS.DiffIDs = append(img.Config.RootFS.DiffIDs, l.diffID)
	}
	desc, _, err := img.Manifest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return desc, img
}

// newImage stores a one-layer image whose content is derived from seed.
func newImage(t testing.TB, s *oci.Store, seed string) ocispec.Descriptor {
	t.Helper()
	desc, _ := putImage(t, s, testCreated(), putLayer(t, s, seed))
	return desc
}

// putJSON stores v as a blob of media type mt.
func putJSON(t testing.TB, s *oci.Store, mt string, v any) ocispec.Descriptor {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := s.Put(context.Background(), mt, data)
	if err != nil {
		t.Fatal(err)
	}
	return desc
}

// putIndex stores an image index listing manifests.
func putIndex(t testing.TB, s *oci.Store, manifests ...ocispec.Descriptor) ocispec.Descriptor {
	t.Helper()
	return putJSON(t, s, ocispec.MediaTypeImageIndex, ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: manifests,
	})
}

// manifestOf decodes the manifest desc names.
func manifestOf(t testing.TB, s *oci.Store, desc ocispec.Descriptor) ocispec.Manifest {
	t.Helper()
	var m ocispec.Manifest
	if err := readJSON(s, desc, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// removeBlob deletes a blob behind the store's back, as damage would.
func removeBlob(t testing.TB, s *oci.Store, d digest.Digest) {
	t.Helper()
	if err := os.Remove(s.Path(d)); err != nil {
		t.Fatal(err)
	}
}

// dockerImageConfig is a config value for hand-built manifests.
func dockerImageConfig(diffIDs ...digest.Digest) dockerspec.DockerOCIImage {
	var c dockerspec.DockerOCIImage
	c.OS, c.Architecture = "linux", "amd64"
	c.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: diffIDs}
	return c
}

// chmodWrite overwrites a read-only store file in place.
func chmodWrite(p string, data []byte) error {
	if err := os.Chmod(p, 0o644); err != nil {
		return err
	}
	return os.WriteFile(p, data, 0o644)
}
