package images_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/pkg/oci"
	"github.com/ocibuilder/builder/pkg/oci/images"
	"github.com/ocibuilder/builder/pkg/statedir"
)

// exampleImage stores a one-file image whose content is body and returns
// its manifest descriptor.
func exampleImage(ctx context.Context, s *oci.Store, body string) (ocispec.Descriptor, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{Name: "hello", Mode: 0o644, Size: int64(len(body)), ModTime: time.Unix(0, 0)}
	if err := tw.WriteHeader(hdr); err != nil {
		return ocispec.Descriptor{}, err
	}
	if _, err := tw.Write([]byte(body)); err != nil {
		return ocispec.Descriptor{}, err
	}
	if err := tw.Close(); err != nil {
		return ocispec.Descriptor{}, err
	}
	layer, err := s.Put(ctx, ocispec.MediaTypeImageLayer, buf.Bytes())
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	img := &oci.Image{Store: s, Layers: []ocispec.Descriptor{layer}}
	created := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	img.Config.Created = &created
	img.Config.OS, img.Config.Architecture = "linux", "amd64"
	img.Config.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{layer.Digest}}
	desc, _, err := img.Manifest(ctx)
	return desc, err
}

func ExampleIndex() {
	ctx := context.Background()
	root, err := os.MkdirTemp("", "state-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	st, err := statedir.Open(ctx, root, statedir.Shared)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	store := st.Store()
	index, err := images.Open(st)
	if err != nil {
		log.Fatal(err)
	}

	manifest, err := exampleImage(ctx, store, "hello\n")
	if err != nil {
		log.Fatal(err)
	}
	if err := index.Tag(ctx, "app:1", manifest); err != nil {
		log.Fatal(err)
	}
	if err := index.Tag(ctx, "ghcr.io/example/app", manifest); err != nil {
		log.Fatal(err)
	}

	entries, err := index.List(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range entries {
		fmt.Println(e.Name, e.Created.Format(time.DateOnly), e.Size)
	}

	// Short names, digests and image ID prefixes all find the image.
	for _, ref := range []string{"app:1", "docker.io/library/app:1", manifest.Digest.String(), manifest.Digest.Encoded()[:12]} {
		desc, err := index.Lookup(ctx, ref)
		fmt.Println(desc.Digest == manifest.Digest, err)
	}

	img, err := images.Load(ctx, store, manifest)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(img.Layers), img.Config.OS)

	if err := index.Untag(ctx, "app:1"); err != nil {
		log.Fatal(err)
	}
	_, err = index.Lookup(ctx, "app:1")
	fmt.Println(errors.Is(err, images.ErrNotFound))
	// Output:
	// docker.io/library/app:1 2024-01-02 2244
	// ghcr.io/example/app:latest 2024-01-02 2244
	// true <nil>
	// true <nil>
	// true <nil>
	// true <nil>
	// 1 linux
	// true
}

func ExamplePrune() {
	ctx := context.Background()
	root, err := os.MkdirTemp("", "state-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	st, err := statedir.Open(ctx, root, statedir.Shared)
	if err != nil {
		log.Fatal(err)
	}
	store := st.Store()
	index, err := images.Open(st)
	if err != nil {
		log.Fatal(err)
	}

	kept, err := exampleImage(ctx, store, "kept\n")
	if err != nil {
		log.Fatal(err)
	}
	if err := index.Tag(ctx, "app", kept); err != nil {
		log.Fatal(err)
	}
	// An image that was built but never tagged: manifest, config and
	// layer are unreferenced.
	if _, err := exampleImage(ctx, store, "dropped\n"); err != nil {
		log.Fatal(err)
	}

	// Builds hold the directory shared while they work; a prune opens it
	// exclusively, which waits for them.
	if err := st.Close(); err != nil {
		log.Fatal(err)
	}
	st, err = statedir.Open(ctx, root, statedir.Exclusive)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	rep, err := images.Prune(ctx, st, images.PruneOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("blobs removed:", rep.Blobs)
	fmt.Println("kept image intact:", store.Has(kept.Digest))
	// Output:
	// blobs removed: 3
	// kept image intact: true
}
