package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocibuilder/builder/internal/testutil"
)

// TestRegistryRoundTrip: busybox pushed to a real registry with skopeo, a
// build FROM it with RUN steps pushed back with --push, pulled back with
// skopeo and compared; a second build downloads nothing.
func TestRegistryRoundTrip(t *testing.T) {
	s := setup(t)
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	reg.CopyIn(t, s.busybox+":latest", "library/busybox:latest")
	proxy := reg.Proxy(t)

	ctx := t.TempDir()
	writeFiles(t, ctx, map[string]string{
		"Dockerfile": "FROM " + proxy.Host + "/library/busybox\nRUN echo built > /built && rm -rf /home/app\nCOPY app.txt /app/\nCMD [\"cat\", \"/built\"]\n",
		"app.txt":    "app",
	})
	root := t.TempDir()
	ref := proxy.Host + "/team/app:1"
	r := runBuilder(t, s.builder, []string{"SOURCE_DATE_EPOCH=1700000000"}, "build", "-q", "--root", root, "-t", ref, "--push", ctx)
	mustSucceed(t, r)
	built := strings.TrimSpace(r.stdout)
	if got := reg.ManifestDigest(t, "team/app:1"); got != built {
		t.Fatalf("registry holds %s, the build made %s", got, built)
	}
	firstGets := proxy.BlobGets()
	if firstGets == 0 {
		t.Fatal("the first build downloaded no blob from the registry")
	}

	// The pushed image, pulled back by skopeo, has what the build made.
	out := t.TempDir()
	reg.CopyOut(t, "team/app:1", out)
	rootfs := umociUnpack(t, out, "1")
	if data, err := os.ReadFile(filepath.Join(rootfs, "built")); err != nil || string(data) != "built\n" {
		t.Errorf("/built = %q, %v", data, err)
	}
	if _, err := os.Lstat(filepath.Join(rootfs, "home/app")); err == nil {
		t.Error("whiteout of /home/app lost on the way through the registry")
	}

	// Same base, another build on the same --root: no download at all.
	before := len(proxy.Requests())
	r = runBuilder(t, s.builder, nil, "build", "-q", "--root", root, "-t", "local:1", ctx)
	mustSucceed(t, r)
	if gets := proxy.BlobGets(); gets != firstGets {
		t.Errorf("second build downloaded %d more blobs", gets-firstGets)
	}
	if n := len(proxy.Requests()) - before; n != 0 {
		t.Errorf("second build sent %d requests to the registry; a stored base needs none", n)
	}
	// Without -o the result is kept under its name.
	r = runBuilder(t, s.builder, nil, "images", "--root", root)
	mustSucceed(t, r)
	if !strings.Contains(r.stdout, "docker.io/library/local:1") || !strings.Contains(r.stdout, proxy.Host+"/library/busybox:latest") {
		t.Errorf("builder images does not list the build and its base:\n%s", r.stdout)
	}
}

func TestRegistryAuth(t *testing.T) {
	s := setup(t)
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{Users: map[string]string{"ci": "s3cret"}})
	reg.CopyIn(t, s.busybox+":latest", "base/busybox:latest")
	ctx := t.TempDir()
	writeFiles(t, ctx, map[string]string{"Dockerfile": "FROM " + reg.Host + "/base/busybox\nRUN true\n"})

	empty := t.TempDir()
	r := runBuilder(t, s.builder, []string{"DOCKER_CONFIG=" + empty}, "build", "--root", t.TempDir(), "-t", reg.Host+"/out/app:1", "--push", ctx)
	if r.code == 0 {
		t.Fatal("build against an authenticated registry succeeded without credentials")
	}
	if !strings.Contains(r.stderr, reg.Host+"/base/busybox") || !strings.Contains(strings.ToLower(r.stderr), "unauthorized") {
		t.Errorf("error does not name the reference and the cause:\n%s", r.stderr)
	}

	cfg := reg.DockerConfig(t, "ci", "s3cret")
	r = runBuilder(t, s.builder, []string{"DOCKER_CONFIG=" + cfg}, "build", "-q", "--root", t.TempDir(), "-t", reg.Host+"/out/app:1", "--push", ctx)
	mustSucceed(t, r)
	if got := reg.ManifestDigest(t, "out/app:1"); got != strings.TrimSpace(r.stdout) {
		t.Errorf("registry holds %s, the build made %s", got, strings.TrimSpace(r.stdout))
	}
}

func TestRegistryTamperedBlobIsRefused(t *testing.T) {
	s := setup(t)
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	reg.CopyIn(t, s.busybox+":latest", "library/busybox:latest")
	var man struct {
		Layers []struct{ Digest string } `json:"layers"`
	}
	readManifest(t, s.busybox, &man)
	reg.TamperBlob(t, "library/busybox", man.Layers[0].Digest)
	ctx := t.TempDir()
	writeFiles(t, ctx, map[string]string{"Dockerfile": "FROM " + reg.Host + "/library/busybox\n"})
	root := t.TempDir()
	dest := filepath.Join(t.TempDir(), "out.tar")
	r := runBuilder(t, s.builder, nil, "build", "--root", root, "-o", "type=oci,dest="+dest, ctx)
	if r.code == 0 {
		t.Fatal("a tampered base layer was accepted")
	}
	if !strings.Contains(r.stderr, "Dockerfile:1") || !strings.Contains(r.stderr, "digest") {
		t.Errorf("error does not name the line and the digest problem:\n%s", r.stderr)
	}
	if _, err := os.Stat(dest); err == nil {
		t.Error("output written for a build whose base failed verification")
	}
	hex := strings.TrimPrefix(man.Layers[0].Digest, "sha256:")
	if _, err := os.Stat(filepath.Join(root, "blobs", "sha256", hex)); err == nil {
		t.Error("the tampered blob was stored under its expected digest")
	}
}

// TestDockerArchiveAndStoredImages covers -o type=docker, and the commands
// that work on stored images: save (both formats), push, rmi, prune.
func TestDockerArchiveAndStoredImages(t *testing.T) {
	s := setup(t)
	ctx := t.TempDir()
	writeFiles(t, ctx, map[string]string{"Dockerfile": "FROM busybox\nRUN echo hi > /hi\n"})
	root := t.TempDir()
	bb := "busybox=oci-layout://" + s.busybox + ":latest"
	archive := filepath.Join(t.TempDir(), "docker.tar")
	mustSucceed(t, runBuilder(t, s.builder, nil, "build", "--root", root, "--build-context", bb, "-t", "hi:1", "-o", "type=docker,dest="+archive, ctx))
	m := skopeoJSON(t, "docker-archive:"+archive)
	if layers := m["Layers"].([]any); len(layers) != 2 {
		t.Errorf("docker archive has %d layers, want 2", len(layers))
	}
	if podman, err := exec.LookPath("podman"); err == nil {
		// podman refuses a runroot path longer than 50 characters.
		store, err := os.MkdirTemp("/tmp", "pm")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(store) })
		cmd := exec.Command(podman, "--root", filepath.Join(store, "root"), "--runroot", filepath.Join(store, "run"),
			"--storage-driver", "vfs", "load", "-i", archive)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("podman load rejected the archive: %v\n%s", err, out)
		}
	} else {
		testutil.RequireTool(t, "podman")
	}

	// Kept locally under its name, then saved, pushed, untagged, pruned.
	mustSucceed(t, runBuilder(t, s.builder, nil, "build", "-q", "--root", root, "--build-context", bb, "-t", "hi:2", ctx))
	ociTar := filepath.Join(t.TempDir(), "hi.tar")
	mustSucceed(t, runBuilder(t, s.builder, nil, "save", "--root", root, "-o", ociTar, "hi:2"))
	skopeoJSON(t, "oci-archive:"+ociTar+":2")
	dockerTar := filepath.Join(t.TempDir(), "hi-docker.tar")
	mustSucceed(t, runBuilder(t, s.builder, nil, "save", "--root", root, "--format", "docker", "-o", dockerTar, "hi:2"))
	skopeoJSON(t, "docker-archive:"+dockerTar)

	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	mustSucceed(t, runBuilder(t, s.builder, nil, "push", "--root", root, "hi:2", reg.Host+"/hi:2"))
	reg.ManifestDigest(t, "hi:2")

	blobs := func() int {
		ents, _ := os.ReadDir(filepath.Join(root, "blobs", "sha256"))
		return len(ents)
	}
	mustSucceed(t, runBuilder(t, s.builder, nil, "rmi", "--root", root, "hi:2"))
	if r := runBuilder(t, s.builder, nil, "save", "--root", root, "-o", ociTar, "hi:2"); r.code == 0 {
		t.Error("save of an untagged image succeeded")
	}
	before := blobs()
	r := runBuilder(t, s.builder, nil, "prune", "--root", root)
	mustSucceed(t, r)
	if after := blobs(); after >= before {
		t.Errorf("prune removed nothing (%d blobs before, %d after): %s", before, after, r.stdout)
	}
}

// readManifest decodes the manifest of the only image in an OCI layout.
func readManifest(t *testing.T, layout string, v any) {
	t.Helper()
	var idx struct {
		Manifests []struct{ Digest string } `json:"manifests"`
	}
	data, err := os.ReadFile(filepath.Join(layout, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := jsonUnmarshal(data, &idx); err != nil || len(idx.Manifests) == 0 {
		t.Fatalf("index.json: %v", err)
	}
	data, err = os.ReadFile(filepath.Join(layout, "blobs", strings.Replace(idx.Manifests[0].Digest, ":", "/", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := jsonUnmarshal(data, v); err != nil {
		t.Fatal(err)
	}
}

func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// TestPullRefreshesStoredBase: a stored base is used as is until --pull,
// which fetches the registry's newer image under the same tag.
func TestPullRefreshesStoredBase(t *testing.T) {
	s := setup(t)
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	reg.CopyIn(t, s.busybox+":latest", "base:latest")
	proxy := reg.Proxy(t)
	root := t.TempDir()
	ctx := t.TempDir()
	writeFiles(t, ctx, map[string]string{"Dockerfile": "FROM " + proxy.Host + "/base\nRUN test ! -e /v2\n"})
	mustSucceed(t, runBuilder(t, s.builder, nil, "build", "--root", root, "-t", "first:1", ctx))

	// The registry's base:latest moves on: it now has /v2.
	v2ctx := t.TempDir()
	writeFiles(t, v2ctx, map[string]string{"Dockerfile": "FROM busybox\nRUN touch /v2\n"})
	mustSucceed(t, runBuilder(t, s.builder, nil, "build", "--root", t.TempDir(), "--build-context", "busybox=oci-layout://"+s.busybox+":latest",
		"-t", reg.Host+"/base:latest", "--push", v2ctx))

	before := len(proxy.Requests())
	mustSucceed(t, runBuilder(t, s.builder, nil, "build", "--root", root, "-t", "second:1", ctx))
	if n := len(proxy.Requests()) - before; n != 0 {
		t.Errorf("a build without --pull asked the registry %d times", n)
	}
	r := runBuilder(t, s.builder, nil, "build", "--root", root, "--pull", "--progress", "plain", "-t", "third:1", ctx)
	if r.code == 0 {
		t.Fatal("--pull did not fetch the registry's newer base (its /v2 should fail the RUN)")
	}
	if !strings.Contains(r.stderr, "test ! -e /v2") {
		t.Errorf("unexpected failure:\n%s", r.stderr)
	}
}
