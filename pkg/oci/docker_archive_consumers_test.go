package oci_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/internal/testutil"
	"github.com/ocibuilder/builder/pkg/layer"
	"github.com/ocibuilder/builder/pkg/oci"
)

// dockerArchive writes a two-layer image as a docker archive.
func dockerArchive(t *testing.T, c layer.Compression) (*oci.Image, string) {
	t.Helper()
	img := oci.NewTwoLayerImage(t, c)
	path := filepath.Join(t.TempDir(), "image.tar")
	o := oci.WriteOptions{RefNames: []string{"app:1", "ghcr.io/org/app:v2"}}
	if err := oci.WriteDockerArchiveFile(context.Background(), img, path, o); err != nil {
		t.Fatal(err)
	}
	return img, path
}

// TestSkopeoReadsDockerArchive reads the archive both as a docker archive
// and, since it is one too, as an OCI layout archive, and copies it into
// an OCI layout that this package reads back and unpacks.
func TestSkopeoReadsDockerArchive(t *testing.T) {
	skopeo := testutil.RequireTool(t, "skopeo")
	for _, c := range []layer.Compression{layer.Gzip, layer.Zstd} {
		t.Run(c.String(), func(t *testing.T) {
			img, path := dockerArchive(t, c)
			diffIDs := img.Config.RootFS.DiffIDs
			for _, ref := range []string{"docker-archive:" + path, "docker-archive:" + path + ":ghcr.io/org/app:v2", "oci-archive:" + path + ":v2"} {
				var got skopeoInspect
				if err := json.Unmarshal(run(t, skopeo, "inspect", ref), &got); err != nil {
					t.Fatal(err)
				}
				// Layers are uncompressed in the archive, so their digests
				// are the diff IDs.
				if !slices.Equal(got.Layers, diffIDs) || got.Os != "linux" || got.Architecture != "amd64" {
					t.Errorf("%s: %+v, want layers %v", ref, got, diffIDs)
				}
			}
			dir := filepath.Join(t.TempDir(), "layout")
			run(t, skopeo, "copy", "--quiet", "docker-archive:"+path+":app:1", "oci:"+dir+":copied")
			back, err := oci.ReadLayout(context.Background(), dir, "copied", ocispec.Platform{}, oci.NewTestStore(t))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(back.Config.RootFS.DiffIDs, diffIDs) {
				t.Errorf("copied image diff IDs %v, want %v", back.Config.RootFS.DiffIDs, diffIDs)
			}
			root := filepath.Join(t.TempDir(), "rootfs")
			if err := oci.WriteRootfs(context.Background(), back, root, oci.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			tree := oci.ListTree(t, root)
			if !slices.Contains(tree, "etc/new") || slices.Contains(tree, "etc/hello") {
				t.Errorf("unpacked copy %v", tree)
			}
		})
	}
}

// TestPodmanLoadsDockerArchive runs `podman load` with its own storage in
// a temporary directory, leaving the machine's image store alone.
func TestPodmanLoadsDockerArchive(t *testing.T) {
	podman := testutil.RequireTool(t, "podman")
	img, path := dockerArchive(t, layer.Gzip)
	// podman refuses a runroot longer than 50 characters, which test
	// temporary directories easily are.
	tmp, err := os.MkdirTemp("/tmp", "podman-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(tmp) })
	// A storage.conf of its own keeps the machine's settings out too.
	conf := filepath.Join(tmp, "storage.conf")
	storage := "[storage]\ndriver = \"vfs\"\ngraphroot = \"" + filepath.Join(tmp, "root") + "\"\nrunroot = \"" + filepath.Join(tmp, "run") + "\"\n"
	if err = os.WriteFile(conf, []byte(storage), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{
		"--root", filepath.Join(tmp, "root"),
		"--runroot", filepath.Join(tmp, "run"),
		"--tmpdir", filepath.Join(tmp, "libpod"),
		"--storage-driver", "vfs",
		"--events-backend", "none",
		"--cgroup-manager", "cgroupfs",
	}
	podmanCmd := func(extra ...string) []byte {
		t.Helper()
		cmd := exec.Command(podman, append(slices.Clone(args), extra...)...)
		cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "CONTAINERS_STORAGE_CONF="+conf)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("podman %s: %v\n%s", strings.Join(extra, " "), err, out)
		}
		return out
	}
	out := podmanCmd("load", "--input", path)
	for _, want := range []string{"app:1", "ghcr.io/org/app:v2"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("podman load output lacks %s:\n%s", want, out)
		}
	}
	var inspected []struct {
		ID       string
		RepoTags []string
		RootFS   struct{ Layers []digest.Digest }
		Config   struct{ Env []string }
	}
	if err := json.Unmarshal(podmanCmd("image", "inspect", "ghcr.io/org/app:v2"), &inspected); err != nil {
		t.Fatal(err)
	}
	if len(inspected) != 1 {
		t.Fatalf("inspected %d images", len(inspected))
	}
	got := inspected[0]
	cfg, err := img.ConfigJSON()
	if err != nil {
		t.Fatal(err)
	}
	if "sha256:"+got.ID != digest.FromBytes(cfg).String() {
		t.Errorf("image ID %s, want the config digest %s", got.ID, digest.FromBytes(cfg))
	}
	if !slices.Equal(got.RootFS.Layers, img.Config.RootFS.DiffIDs) {
		t.Errorf("layers %v, want %v", got.RootFS.Layers, img.Config.RootFS.DiffIDs)
	}
	if !slices.Contains(got.Config.Env, "GREETING=a<b&c>") {
		t.Errorf("env %v", got.Config.Env)
	}
}
