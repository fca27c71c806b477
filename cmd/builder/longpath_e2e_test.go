package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// longRel is a file path of about 4000 bytes: 16 directories of 240 bytes
// and a 140-byte name. With a prefix of a few bytes it stays below the
// kernel's PATH_MAX inside the image.
func longRel() string {
	var b strings.Builder
	for i := range 16 {
		fmt.Fprintf(&b, "d%02d%s/", i, strings.Repeat("x", 237))
	}
	b.WriteString(strings.Repeat("f", 140))
	return b.String()
}

// padPath returns a directory path of exactly n bytes below base.
func padPath(t *testing.T, base string, n int) string {
	t.Helper()
	p := filepath.Join(base, "p")
	if len(p) >= n {
		t.Fatalf("%s is longer than %d bytes", p, n)
	}
	return p + strings.Repeat("p", n-len(p))
}

// writeBeneath writes content to the relative path rel below dir, creating
// directories, through os.Root: the host path may be longer than the
// kernel takes in one call.
func writeBeneath(t *testing.T, dir, rel, content string) {
	t.Helper()
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.MkdirAll(path.Dir(rel), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteFile(rel, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLongPathsWhateverTheRoot builds names of about 4000 bytes (the most
// an image allows) with --root, the context and every output 200 bytes
// deep, so that no host path of the build fits in PATH_MAX: from an ADDed
// archive, COPY from the context, RUN, and a base image layer, through
// both snapshotters and into every output type.
func TestLongPathsWhateverTheRoot(t *testing.T) {
	s := setup(t)
	rel := longRel()
	tmp := t.TempDir()
	root := padPath(t, filepath.Join(tmp, "root"), 200)
	bb := "busybox=oci-layout://" + s.busybox + ":latest"

	// The base image: one layer holding the long path.
	baseCtx := filepath.Join(tmp, "basectx")
	writeFiles(t, baseCtx, map[string]string{
		"relpath":    rel,
		"Dockerfile": "FROM busybox\nCOPY relpath /relpath\nRUN p=$(cat /relpath) && mkdir -p /b/$(dirname $p) && echo base > /b/$p\n",
	})
	baseLayout := filepath.Join(tmp, "base")
	mustSucceed(t, runBuilder(t, s.builder, nil, "build", "--root", root, "--build-context", bb,
		"-t", "base:latest", "-o", "type=oci,tar=false,dest="+baseLayout, baseCtx))

	ctx := padPath(t, filepath.Join(tmp, "ctx"), 200)
	if err := os.MkdirAll(ctx, 0o755); err != nil {
		t.Fatal(err)
	}
	writeBeneath(t, ctx, "c/"+rel, "ctx\n")
	var arch bytes.Buffer
	tw := tar.NewWriter(&arch)
	if err := tw.WriteHeader(&tar.Header{Name: "a/" + rel, Mode: 0o644, Size: 4, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte("tar\n"))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, ctx, map[string]string{
		"arch.tar": arch.String(),
		"Dockerfile": "FROM base\nADD arch.tar /t/\nCOPY c /c/\n" +
			"RUN p=$(cat /relpath) && mkdir -p /r/$(dirname $p) && echo run > /r/$p" +
			` && test "$(cat /t/a/$p)" = tar && test "$(cat /c/$p)" = ctx && test "$(cat /b/$p)" = base` +
			" && echo more >> /b/$p\n",
	})
	want := map[string]string{"t/a/" + rel: "tar\n", "c/" + rel: "ctx\n", "r/" + rel: "run\n", "b/" + rel: "base\nmore\n"}

	for _, snap := range []string{"overlay", "copy"} {
		t.Run(snap, func(t *testing.T) {
			out := padPath(t, filepath.Join(tmp, "out-"+snap), 200)
			if err := os.MkdirAll(out, 0o755); err != nil {
				t.Fatal(err)
			}
			ociTar, ociDir := filepath.Join(out, "oci.tar"), filepath.Join(out, "oci")
			docker, local := filepath.Join(out, "docker.tar"), filepath.Join(out, "rootfs")
			mustSucceed(t, runBuilder(t, s.builder, nil, "build", "--root", root, "--snapshotter", snap,
				"--build-context", "base=oci-layout://"+baseLayout+":latest", "--no-cache", "-t", "long:1",
				"-o", "type=oci,dest="+ociTar, "-o", "type=oci,tar=false,dest="+ociDir,
				"-o", "type=docker,dest="+docker, "-o", "type=local,dest="+local, ctx))

			checkFiles(t, "type=local", readTreeBeneath(t, local, want), want)
			checkFiles(t, "type=oci,tar=false", layoutFiles(t, ociDir), want)
			unpacked := filepath.Join(t.TempDir(), "oci")
			untar(t, ociTar, unpacked)
			checkFiles(t, "type=oci", layoutFiles(t, unpacked), want)
			unpackedDocker := filepath.Join(t.TempDir(), "docker")
			untar(t, docker, unpackedDocker)
			checkFiles(t, "type=docker", dockerArchiveFiles(t, unpackedDocker), want)
		})
	}
}

// checkFiles compares the files found in an output with want.
func checkFiles(t *testing.T, output string, got, want map[string]string) {
	t.Helper()
	for name, content := range want {
		if g, ok := got[name]; !ok {
			t.Errorf("%s: %.40s… (%d bytes) missing", output, name, len(name))
		} else if g != content {
			t.Errorf("%s: %.40s… holds %q, want %q", output, name, g, content)
		}
	}
}

// readTreeBeneath reads the files named in want below dir through os.Root.
func readTreeBeneath(t *testing.T, dir string, want map[string]string) map[string]string {
	t.Helper()
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := map[string]string{}
	for name := range want {
		data, err := r.ReadFile(name)
		if err == nil {
			got[name] = string(data)
		} else if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("reading %.40s…: %v", name, err)
		}
	}
	return got
}

// layoutFiles returns the regular files of the single image in an OCI
// layout directory, its layers applied in order (whiteouts are not
// needed here).
func layoutFiles(t *testing.T, layout string) map[string]string {
	t.Helper()
	blob := func(d string) string { return filepath.Join(layout, "blobs", strings.Replace(d, ":", "/", 1)) }
	var idx struct {
		Manifests []struct{ Digest string } `json:"manifests"`
	}
	readJSONFile(t, filepath.Join(layout, "index.json"), &idx)
	if len(idx.Manifests) != 1 {
		t.Fatalf("%s: %d manifests, want 1", layout, len(idx.Manifests))
	}
	var man struct {
		Layers []struct{ Digest string } `json:"layers"`
	}
	readJSONFile(t, blob(idx.Manifests[0].Digest), &man)
	files := map[string]string{}
	for _, l := range man.Layers {
		layerFiles(t, blob(l.Digest), files)
	}
	return files
}

// dockerArchiveFiles is layoutFiles for an unpacked docker-archive.
func dockerArchiveFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	var man []struct{ Layers []string }
	readJSONFile(t, filepath.Join(dir, "manifest.json"), &man)
	if len(man) != 1 {
		t.Fatalf("docker archive: %d images, want 1", len(man))
	}
	files := map[string]string{}
	for _, l := range man[0].Layers {
		layerFiles(t, filepath.Join(dir, l), files)
	}
	return files
}

// layerFiles adds the regular files of the (possibly gzipped) layer tar
// at p to files.
func layerFiles(t *testing.T, p string, files map[string]string) {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var r io.Reader = bytes.NewReader(data)
	if len(data) > 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("reading layer %s: %v", p, err)
		}
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[strings.TrimPrefix(h.Name, "./")] = string(b)
		}
	}
}

func readJSONFile(t *testing.T, p string, v any) {
	t.Helper()
	data, err := os.ReadFile(p)
	if err == nil {
		err = json.Unmarshal(data, v)
	}
	if err != nil {
		t.Fatalf("reading %s: %v", p, err)
	}
}
