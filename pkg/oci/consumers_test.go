package oci_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/internal/testutil"
	"github.com/ocibuilder/builder/pkg/layer"
	"github.com/ocibuilder/builder/pkg/oci"
)

// skopeoInspect is the part of "skopeo inspect" output the tests check.
type skopeoInspect struct {
	Digest       digest.Digest
	Architecture string
	Os           string
	Layers       []digest.Digest
	Env          []string
	Labels       map[string]string
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		var stderr string
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr)
	}
	return out
}

// TestSkopeoReadsOutputs checks both layout forms with skopeo, which
// resolves "oci:DIR:TAG" through org.opencontainers.image.ref.name.
func TestSkopeoReadsOutputs(t *testing.T) {
	skopeo := testutil.RequireTool(t, "skopeo")
	ctx := context.Background()
	img := oci.NewTwoLayerImage(t, layer.Gzip)
	manifest, _, err := img.Manifest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "layout")
	archive := filepath.Join(tmp, "image.tar")
	o := oci.WriteOptions{RefNames: []string{"example.com/app:v1", "app:stable"}}
	if err := oci.WriteLayout(ctx, img, dir, o); err != nil {
		t.Fatal(err)
	}
	if err := oci.WriteLayoutTarFile(ctx, img, archive, o); err != nil {
		t.Fatal(err)
	}
	wantLayers := []digest.Digest{img.Layers[0].Digest, img.Layers[1].Digest}
	for _, ref := range []string{"oci:" + dir + ":v1", "oci:" + dir + ":stable", "oci-archive:" + archive + ":v1", "oci-archive:" + archive + ":stable"} {
		t.Run(ref, func(t *testing.T) {
			var got skopeoInspect
			if err := json.Unmarshal(run(t, skopeo, "inspect", "--raw", ref), new(ocispec.Manifest)); err != nil {
				t.Fatalf("skopeo --raw output is not a manifest: %v", err)
			}
			if err := json.Unmarshal(run(t, skopeo, "inspect", ref), &got); err != nil {
				t.Fatal(err)
			}
			if got.Digest != manifest.Digest {
				t.Errorf("digest = %s, want %s", got.Digest, manifest.Digest)
			}
			if got.Os != "linux" || got.Architecture != "amd64" {
				t.Errorf("platform = %s/%s", got.Os, got.Architecture)
			}
			if !reflect.DeepEqual(got.Layers, wantLayers) {
				t.Errorf("layers = %v, want %v", got.Layers, wantLayers)
			}
			if !slices.Contains(got.Env, "GREETING=a<b&c>") {
				t.Errorf("env = %v", got.Env)
			}
			if got.Labels["org.example.a"] != "1" {
				t.Errorf("labels = %v", got.Labels)
			}
		})
	}
	// A tag that was not written must not resolve.
	cmd := exec.Command(skopeo, "inspect", "oci:"+dir+":missing")
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("skopeo resolved a tag that does not exist:\n%s", out)
	}
}

// TestSkopeoLayoutImports reads layouts that skopeo wrote, so ReadLayout is
// checked against a producer other than this package.
func TestSkopeoLayoutImports(t *testing.T) {
	skopeo := testutil.RequireTool(t, "skopeo")
	ctx := context.Background()
	img := oci.NewTwoLayerImage(t, layer.Gzip)
	tmp := t.TempDir()
	archive := filepath.Join(tmp, "image.tar")
	if err := oci.WriteLayoutTarFile(ctx, img, archive, oci.WriteOptions{RefNames: []string{"app:v1"}}); err != nil {
		t.Fatal(err)
	}
	copied := filepath.Join(tmp, "copied")
	run(t, skopeo, "copy", "--quiet", "oci-archive:"+archive+":v1", "oci:"+copied+":imported")

	got, err := oci.ReadLayout(ctx, copied, "imported", ocispec.Platform{OS: "linux", Architecture: "amd64"}, oci.NewTestStore(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := oci.Validate(ctx, got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Config.RootFS.DiffIDs, img.Config.RootFS.DiffIDs) {
		t.Errorf("diff IDs = %v, want %v", got.Config.RootFS.DiffIDs, img.Config.RootFS.DiffIDs)
	}
	if !reflect.DeepEqual(got.Config.Config.Env, img.Config.Config.Env) {
		t.Errorf("env = %v", got.Config.Config.Env)
	}
	rootfs := filepath.Join(tmp, "rootfs")
	if err := oci.WriteRootfs(ctx, got, rootfs, oci.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"bin/", "bin/app", "etc/", "etc/keep", "etc/new"}; !reflect.DeepEqual(oci.ListTree(t, rootfs), want) {
		t.Errorf("rootfs = %v, want %v", oci.ListTree(t, rootfs), want)
	}
}

// TestUmociUnpacksLayout has umoci build a runtime bundle from the layout
// and checks the whiteout was honoured.
func TestUmociUnpacksLayout(t *testing.T) {
	umoci := testutil.RequireTool(t, "umoci")
	ctx := context.Background()
	img := oci.NewTwoLayerImage(t, layer.Gzip)
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "layout")
	if err := oci.WriteLayout(ctx, img, dir, oci.WriteOptions{RefNames: []string{"app:v1"}}); err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(tmp, "bundle")
	args := []string{"unpack", "--image", dir + ":v1", bundle}
	if os.Geteuid() != 0 {
		args = []string{"unpack", "--rootless", "--image", dir + ":v1", bundle}
	}
	run(t, umoci, args...)
	rootfs := filepath.Join(bundle, "rootfs")
	for _, tc := range []struct {
		path string
		want string // "" = must not exist
	}{
		{"etc/keep", "keep\n"},
		{"etc/new", "new\n"},
		{"bin/app", "#!/bin/sh\necho app\n"},
		{"etc/hello", ""},
		{"etc/.wh.hello", ""},
	} {
		data, err := os.ReadFile(filepath.Join(rootfs, tc.path))
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%s exists in the unpacked rootfs", tc.path)
		case tc.want != "" && (err != nil || string(data) != tc.want):
			t.Errorf("%s = %q, %v; want %q", tc.path, data, err, tc.want)
		}
	}
	var spec struct {
		Process struct {
			Args []string `json:"args"`
			Env  []string `json:"env"`
		} `json:"process"`
	}
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &spec); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(spec.Process.Args, []string{"/bin/app"}) {
		t.Errorf("runtime args = %v", spec.Process.Args)
	}
}
