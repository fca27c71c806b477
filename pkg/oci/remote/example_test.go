package remote_test

import (
	"context"
	"fmt"
	"log"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/pkg/oci"
	"github.com/ocibuilder/builder/pkg/oci/remote"
)

// ExamplePull downloads the linux/arm64 image of alpine into a store.
func ExamplePull() {
	ctx := context.Background()
	store, err := oci.OpenStore("/var/lib/builder")
	if err != nil {
		log.Fatal(err)
	}
	platform := ocispec.Platform{OS: "linux", Architecture: "arm64"}
	img, desc, err := remote.Pull(ctx, "alpine:3.20", platform, store, remote.Options{
		Progress: func(u remote.Update) { fmt.Println(u.Action, u.Digest, u.Done, "/", u.Total) },
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("pulled", desc.Digest, "with", len(img.Layers), "layers")
}

// ExamplePush uploads an image from a store, mounting the blobs it shares
// with its base image instead of uploading them again.
func ExamplePush() {
	ctx := context.Background()
	store, err := oci.OpenStore("/var/lib/builder")
	if err != nil {
		log.Fatal(err)
	}
	base, _, err := remote.Pull(ctx, "registry.example.com/base:1", ocispec.Platform{}, store, remote.Options{})
	if err != nil {
		log.Fatal(err)
	}
	img := &oci.Image{Config: base.Config, Layers: base.Layers, Store: store}
	img.Config.Config.Cmd = []string{"/bin/app"}
	desc, err := remote.Push(ctx, img, "registry.example.com/team/app:v1", remote.Options{
		MountFrom: []string{"registry.example.com/base"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("pushed", desc.Digest)
}

// ExampleHead checks whether a pulled image is still what its tag names.
func ExampleHead() {
	ctx := context.Background()
	pulled := ocispec.Descriptor{} // from an earlier Pull
	current, err := remote.Head(ctx, "alpine:3.20", ocispec.Platform{OS: "linux", Architecture: "amd64"}, remote.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("up to date:", current.Digest == pulled.Digest)
}
