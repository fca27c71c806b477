package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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

// TestHardLinkPairsAcrossSteps changes lower hard-link pairs one name at a
// time: a new name for one of them, one removed, one renamed. Through both
// snapshotters the layer must be the same, hold every name of an inode it
// holds, and give the extracted image the link structure the step's view
// had: overlayfs copies a linked lower name up on its own, so the new name
// joins the copy and the other name of the pair stays a file of its own.
func TestHardLinkPairsAcrossSteps(t *testing.T) {
	s := setup(t)
	ctx := t.TempDir()
	df := "FROM busybox\n" +
		"RUN echo p > /p1 && ln /p1 /p2 && echo q > /q1 && ln /q1 /q2 && echo r > /r1 && ln /r1 /r2\n" +
		"RUN ln /p1 /p3 && rm /q2 && mv /r2 /r3\n" +
		"RUN stat -c 'stat %n %h %i' /p1 /p2 /p3 /q1 /r1 /r3\n"
	writeFiles(t, ctx, map[string]string{"Dockerfile": df})
	root := filepath.Join(t.TempDir(), "root")
	var layers []string
	for _, snap := range []string{"overlay", "copy"} {
		t.Run(snap, func(t *testing.T) {
			out, local := filepath.Join(t.TempDir(), "oci"), filepath.Join(t.TempDir(), "local")
			r := runBuilder(t, s.builder, epochEnv, "build", "--root", root, "--snapshotter", snap, "--no-cache", "--progress", "plain",
				"--build-context", "busybox=oci-layout://"+s.busybox+":latest",
				"-o", "type=oci,tar=false,dest="+out, "-o", "type=local,dest="+local, ctx)
			mustSucceed(t, r)
			entries := layoutEntries(t, out)
			want := map[string]string{"p1": "file", "p3": "link p1", "q2": "whiteout", "r2": "whiteout", "r3": "file"}
			got := map[string]string{}
			for name, h := range entries {
				switch {
				case strings.Contains(name, ".wh."):
					got[strings.Replace(name, ".wh.", "", 1)] = "whiteout"
				case h.Typeflag == tar.TypeLink:
					got[name] = "link " + h.Linkname
				case h.Typeflag == tar.TypeReg:
					got[name] = "file"
				}
			}
			if !maps.Equal(got, want) {
				t.Errorf("layer of the step: %v, want %v", got, want)
			}
			layers = append(layers, layerDigests(t, out))

			// The image as extracted: p1 and p3 are one inode, every
			// other name is a file of its own.
			ino := map[string]uint64{}
			for name, nlink := range map[string]uint64{"p1": 2, "p3": 2, "p2": 1, "q1": 1, "r1": 1, "r3": 1} {
				fi, err := os.Lstat(filepath.Join(local, name))
				if err != nil {
					t.Fatal(err)
				}
				st := fi.Sys().(*syscall.Stat_t)
				ino[name] = st.Ino
				if uint64(st.Nlink) != nlink {
					t.Errorf("%s has %d links in the image, want %d", name, st.Nlink, nlink)
				}
			}
			if ino["p1"] != ino["p3"] || ino["p1"] == ino["p2"] || ino["r1"] == ino["r3"] {
				t.Errorf("image inodes: %v; want p1 and p3 one inode, p2 and r3 others", ino)
			}

			// What the next step saw, with overlayfs: the same inodes
			// as the image. The copy snapshotter gives every name its
			// own inode (see snapshot.Materialize).
			if snap != "overlay" {
				return
			}
			seen := map[string]string{}
			for _, line := range strings.Split(r.stderr+r.stdout, "\n") {
				if _, rest, ok := strings.Cut(line, "stat /"); ok {
					if f := strings.Fields(rest); len(f) == 3 {
						seen[f[0]] = f[2]
					}
				}
			}
			if len(seen) != 6 || seen["p1"] != seen["p3"] || seen["p1"] == seen["p2"] || seen["r1"] == seen["r3"] {
				t.Errorf("the next step saw inodes %v; want p1 and p3 one inode, p2 and r3 others", seen)
			}
		})
	}
	if len(layers) == 2 && layers[0] != layers[1] {
		t.Errorf("layers differ between snapshotters:\noverlay %s\ncopy    %s", layers[0], layers[1])
	}
}

// layerDigests returns the layer digests of the single image in an OCI
// layout directory, joined by spaces.
func layerDigests(t *testing.T, layout string) string {
	t.Helper()
	var idx struct {
		Manifests []struct{ Digest string } `json:"manifests"`
	}
	readJSONFile(t, filepath.Join(layout, "index.json"), &idx)
	var man struct {
		Layers []struct{ Digest string } `json:"layers"`
	}
	readJSONFile(t, filepath.Join(layout, "blobs", strings.Replace(idx.Manifests[0].Digest, ":", "/", 1)), &man)
	var ds []string
	for _, l := range man.Layers {
		ds = append(ds, l.Digest)
	}
	return strings.Join(ds, " ")
}
