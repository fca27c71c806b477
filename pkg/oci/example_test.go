package oci_test

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/pkg/layer"
	"github.com/ocibuilder/builder/pkg/oci"
)

func ExampleStore() {
	root, err := os.MkdirTemp("", "store")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	s, err := oci.OpenStore(root)
	if err != nil {
		log.Fatal(err)
	}

	desc, err := s.Put(context.Background(), "text/plain", []byte("hello\n"))
	if err != nil {
		log.Fatal(err)
	}
	data, err := s.ReadAll(desc.Digest, 1024)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(desc.Digest, desc.Size)
	fmt.Printf("%q\n", data)
	// Output:
	// sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03 6
	// "hello\n"
}

func ExampleWriteLayout() {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "layout")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	s, err := oci.OpenStore(filepath.Join(tmp, "store"))
	if err != nil {
		log.Fatal(err)
	}

	// One layer holding /hello, encoded straight into the store.
	w, err := s.Writer(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	l, err := layer.Encode(ctx, w, layer.EncodeOptions{}, func(out io.Writer) error {
		tw := tar.NewWriter(out)
		if err := tw.WriteHeader(&tar.Header{Name: "hello", Mode: 0o644, Size: 3}); err != nil {
			return err
		}
		if _, err := io.WriteString(tw, "hi\n"); err != nil {
			return err
		}
		return tw.Close()
	})
	if err != nil {
		log.Fatal(err)
	}
	if _, _, err := w.Commit(l.Digest); err != nil {
		log.Fatal(err)
	}

	img := &oci.Image{Store: s}
	img.Config.Platform = ocispec.Platform{OS: "linux", Architecture: "amd64"}
	img.Config.Config.Cmd = []string{"/hello"}
	img.Config.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{l.DiffID}}
	img.Layers = []ocispec.Descriptor{{MediaType: l.MediaType, Digest: l.Digest, Size: l.Size}}
	if err := oci.Validate(ctx, img); err != nil {
		log.Fatal(err)
	}

	dir := filepath.Join(tmp, "out")
	if err := oci.WriteLayout(ctx, img, dir, oci.WriteOptions{RefNames: []string{"example.com/hello:v1"}}); err != nil {
		log.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		log.Fatal(err)
	}
	var index ocispec.Index
	if err := json.Unmarshal(data, &index); err != nil {
		log.Fatal(err)
	}
	blobs, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if err != nil {
		log.Fatal(err)
	}
	e := index.Manifests[0]
	fmt.Println(e.MediaType, e.Platform.OS+"/"+e.Platform.Architecture)
	fmt.Println(e.Annotations[oci.AnnotationImageName], e.Annotations[oci.AnnotationRefName])
	fmt.Println(len(blobs), "blobs")
	// Output:
	// application/vnd.oci.image.manifest.v1+json linux/amd64
	// example.com/hello:v1 v1
	// 3 blobs
}

func ExampleReadLayout() {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "read")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	s, err := oci.OpenStore(filepath.Join(tmp, "store"))
	if err != nil {
		log.Fatal(err)
	}
	img := &oci.Image{Store: s}
	img.Config.Platform = ocispec.Platform{OS: "linux", Architecture: "arm64"}
	img.Config.RootFS.Type = "layers"
	if err := oci.WriteLayout(ctx, img, filepath.Join(tmp, "layout"), oci.WriteOptions{RefNames: []string{"app:v1"}}); err != nil {
		log.Fatal(err)
	}

	got, err := oci.ReadLayout(ctx, filepath.Join(tmp, "layout"), "app:v1", ocispec.Platform{OS: "linux", Architecture: "arm64"}, s)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.Config.OS, got.Config.Architecture, len(got.Layers))

	_, err = oci.ReadLayout(ctx, filepath.Join(tmp, "layout"), "v2", ocispec.Platform{}, s)
	fmt.Println(errors.Is(err, oci.ErrNotFound))
	// Output:
	// linux arm64 0
	// true
}

func ExampleParseImageName() {
	for _, s := range []string{"alpine", "ghcr.io/org/app:v1", "localhost:5000/app"} {
		n, err := oci.ParseImageName(s)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(n, n.RefName())
	}
	// Output:
	// docker.io/library/alpine:latest latest
	// ghcr.io/org/app:v1 v1
	// localhost:5000/app:latest latest
}
