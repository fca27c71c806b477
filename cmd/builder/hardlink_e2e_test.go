package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHardLinkToLowerFile gives a file of the base image a second name:
// the layer must hold both names as one inode (the new name a hard link
// entry to the first), as docker and the image spec have it, through both
// snapshotters; with overlayfs the next step sees two links on each name.
func TestHardLinkToLowerFile(t *testing.T) {
	s := setup(t)
	ctx := t.TempDir()
	writeFiles(t, ctx, map[string]string{"Dockerfile": "FROM busybox\nRUN ln /bin/busybox /bb-link\nRUN stat -c '%n %h' /bin/busybox /bb-link\n"})
	root := filepath.Join(t.TempDir(), "root")
	for _, snap := range []string{"overlay", "copy"} {
		t.Run(snap, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "oci")
			r := runBuilder(t, s.builder, nil, "build", "--root", root, "--snapshotter", snap, "--no-cache", "--progress", "plain",
				"--build-context", "busybox=oci-layout://"+s.busybox+":latest", "-o", "type=oci,tar=false,dest="+out, ctx)
			mustSucceed(t, r)
			if snap == "overlay" {
				for _, want := range []string{"/bin/busybox 2", "/bb-link 2"} {
					if !strings.Contains(r.stderr+r.stdout, want) {
						t.Errorf("the step after the link did not print %q:\n%s", want, r.stderr)
					}
				}
			}
			entries := layoutEntries(t, out)
			link, file := entries["bin/busybox"], entries["bb-link"]
			if file == nil || file.Typeflag != tar.TypeReg || file.Size == 0 {
				t.Fatalf("no layer holds bb-link as the file's content: %+v", file)
			}
			if link == nil || link.Typeflag != tar.TypeLink || link.Linkname != "bb-link" {
				t.Fatalf("bin/busybox is not a hard link to bb-link in the layer: %+v", link)
			}
		})
	}
}

// layoutEntries returns the headers of the last layer of the single image
// in an OCI layout directory, by name.
func layoutEntries(t *testing.T, layout string) map[string]*tar.Header {
	t.Helper()
	blob := func(d string) string { return filepath.Join(layout, "blobs", strings.Replace(d, ":", "/", 1)) }
	var idx struct {
		Manifests []struct{ Digest string } `json:"manifests"`
	}
	readJSONFile(t, filepath.Join(layout, "index.json"), &idx)
	var man struct {
		Layers []struct{ Digest string } `json:"layers"`
	}
	readJSONFile(t, blob(idx.Manifests[0].Digest), &man)
	out := map[string]*tar.Header{}
	for _, l := range man.Layers[len(man.Layers)-1:] {
		data, err := os.ReadFile(blob(l.Digest))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(zr)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			out[strings.TrimPrefix(h.Name, "./")] = h
		}
	}
	return out
}
