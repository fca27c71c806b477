package layer_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/ocibuilder/builder/pkg/layer"
)

// Writing the changes of a tree as a gzip layer: WriteTar produces the
// tar inside Encode's single pass, which returns both digests.
func ExampleEncode() {
	root, err := os.MkdirTemp("", "layer-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/motd"), []byte("hello\n"), 0o644); err != nil {
		log.Fatal(err)
	}
	// Modes exactly as printed below, whatever the umask.
	for p, m := range map[string]fs.FileMode{"etc": 0o755, "etc/motd": 0o644} {
		if err := os.Chmod(filepath.Join(root, p), m); err != nil {
			log.Fatal(err)
		}
	}

	// A change stream as a differ would report it: lexical, parents first.
	changes := func(ctx context.Context, fn layer.ChangeFunc) error {
		if err := fn(layer.ChangeAdd, "etc/motd", nil); err != nil {
			return err
		}
		return fn(layer.ChangeDelete, "tmp", nil)
	}
	epoch := time.Unix(0, 0)
	var blob bytes.Buffer
	desc, err := layer.Encode(context.Background(), &blob, layer.EncodeOptions{Compression: layer.Gzip},
		func(w io.Writer) error {
			return layer.WriteTar(context.Background(), w, root, changes, layer.TarOptions{SourceDateEpoch: &epoch})
		})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(desc.MediaType)
	fmt.Println(desc.Digest == digest.FromBytes(blob.Bytes()), desc.Size == int64(blob.Len()))

	rc, format, err := layer.Decompress(&blob)
	if err != nil {
		log.Fatal(err)
	}
	defer rc.Close()
	fmt.Println(format)
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(h.Name, fs.FileMode(h.Mode), h.ModTime.Unix())
	}
	// Output:
	// application/vnd.oci.image.layer.v1.tar+gzip
	// true true
	// gzip
	// etc/ -rwxr-xr-x 0
	// etc/motd -rw-r--r-- 0
	// .wh.tmp ---------- 0
}

// Applying a layer onto a root filesystem. The hostile second member is
// refused; the first one was already extracted.
func ExampleApply() {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "/etc/hostname", Typeflag: tar.TypeReg, Mode: 0o644, Size: 4},
		{Name: "../escape", Typeflag: tar.TypeReg, Mode: 0o644},
	} {
		if err := tw.WriteHeader(h); err != nil {
			log.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := tw.Write([]byte("box\n")); err != nil {
				log.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		log.Fatal(err)
	}

	root, err := os.MkdirTemp("", "rootfs")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	_, err = layer.Apply(context.Background(), root, &buf, layer.ApplyOptions{Whiteouts: layer.WhiteoutOCI})
	fmt.Println(err)
	b, _ := os.ReadFile(filepath.Join(root, "etc/hostname"))
	fmt.Printf("%q\n", b)
	// Output:
	// unsafe layer entry "../escape": climbs above the root
	// "box\n"
}
