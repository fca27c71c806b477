package oci

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/pkg/layer"
)

// devEntry is a device or FIFO entry of a hand-made layer.
type devEntry struct {
	name         string
	typ          byte
	major, minor int64
	link         string // for tar.TypeLink
}

// putRawLayer stores a gzip layer made of hdrs (bodies empty) in img.
func putRawLayer(t *testing.T, img *Image, hdrs []*tar.Header) {
	t.Helper()
	for _, h := range hdrs {
		h.ModTime, h.Format = testCreated(), tar.FormatPAX
	}
	putLayerHeaders(t, img, hdrs, nil)
}

// TestWriteRootfsLeavesOutDevices: character and block devices (and hard
// links to them) of any layer never become device nodes in a directory
// output, each one is named in exactly one warning line, and an entry
// they replace is still removed. FIFOs are no device and stay.
func TestWriteRootfsLeavesOutDevices(t *testing.T) {
	img := testImage(t, newStore(t), layer.Gzip, []entry{
		{name: "dev/", typ: tar.TypeDir},
		{name: "dev/was-a-file", body: "replaced by a device above\n"},
	})
	hdr := func(e devEntry) *tar.Header {
		return &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o666, Devmajor: e.major, Devminor: e.minor, Linkname: e.link}
	}
	for _, l := range [][]devEntry{
		{
			{name: "dev/null2", typ: tar.TypeChar, major: 1, minor: 3},
			{name: "dev/sda9", typ: tar.TypeBlock, major: 8, minor: 9},
			{name: "dev/null-link", typ: tar.TypeLink, link: "dev/null2"},
			{name: "dev/was-a-file", typ: tar.TypeChar, major: 1, minor: 5},
			{name: "run/fifo", typ: tar.TypeFifo},
		},
		{
			// The same path again in an upper layer: still one warning.
			{name: "dev/null2", typ: tar.TypeChar, major: 1, minor: 3},
			{name: "dev/kmsg2", typ: tar.TypeChar, major: 1, minor: 11},
		},
	} {
		var hdrs []*tar.Header
		for _, e := range l {
			hdrs = append(hdrs, hdr(e))
		}
		putRawLayer(t, img, hdrs)
	}
	parent := t.TempDir()
	dir := filepath.Join(parent, "rootfs")
	var warnings []string
	if err := WriteRootfs(context.Background(), img, dir, WriteOptions{Warn: func(m string) { warnings = append(warnings, m) }}); err != nil {
		t.Fatal(err)
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeDevice != 0 {
			t.Errorf("DEVICE NODE CREATED ON THE HOST: %s", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := listTree(t, dir), []string{"dev/", "run/", "run/fifo"}; !reflect.DeepEqual(got, want) {
		t.Errorf("rootfs = %v, want %v", got, want)
	}
	var named []string
	for _, w := range warnings {
		if strings.Contains(w, "\n") {
			t.Errorf("warning spans several lines: %q", w)
		}
		i, j := strings.Index(w, `"`), strings.LastIndex(w, `"`)
		if i < 0 || j <= i {
			t.Fatalf("warning names no path: %q", w)
		}
		named = append(named, w[i+1:j])
	}
	slices.Sort(named)
	if want := []string{"/dev/kmsg2", "/dev/null-link", "/dev/null2", "/dev/sda9", "/dev/was-a-file"}; !reflect.DeepEqual(named, want) {
		t.Errorf("warnings name %v, want %v:\n%s", named, want, strings.Join(warnings, "\n"))
	}
	assertNoSiblings(t, parent, "rootfs")

	// Without a Warn function devices are still left out.
	if err := WriteRootfs(context.Background(), img, dir, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, want := listTree(t, dir), []string{"dev/", "run/", "run/fifo"}; !reflect.DeepEqual(got, want) {
		t.Errorf("rootfs without Warn = %v, want %v", got, want)
	}
}

// TestWriteRootfsSymlinkEscape: a layer whose symlinks point outside the
// output (absolute, or climbing with ..) and that then writes files and
// directories "through" them, in the same layer or the next one, writes
// everything inside the output, resolved as in a chroot.
func TestWriteRootfsSymlinkEscape(t *testing.T) {
	outside := t.TempDir()
	climb := strings.Repeat("../", 32) + strings.TrimPrefix(outside, "/")
	img := testImage(t, newStore(t), layer.Gzip,
		[]entry{
			{name: "abs", typ: tar.TypeSymlink},
			{name: "abs/file", body: "through an absolute link\n"},
			{name: "rel", typ: tar.TypeSymlink},
			{name: "rel/sub/file", body: "through a climbing link\n"},
		},
		[]entry{
			{name: "abs/next-layer", body: "from the next layer\n"},
		})
	// writeTar leaves Linkname empty; set the targets in the stored tars.
	img = symlinkTargets(t, img, map[string]string{"abs": outside, "rel": climb})

	parent := t.TempDir()
	dir := filepath.Join(parent, "rootfs")
	if err := WriteRootfs(context.Background(), img, dir, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if ents, err := os.ReadDir(outside); err != nil || len(ents) != 0 {
		t.Fatalf("HOST PATH WAS CHANGED! THIS IS A PATH ESCAPE! %s holds %v (%v)", outside, names(ents), err)
	}
	inside := filepath.Join(dir, outside)
	for p, want := range map[string]string{
		"file":       "through an absolute link\n",
		"sub/file":   "through a climbing link\n",
		"next-layer": "from the next layer\n",
	} {
		got, err := os.ReadFile(filepath.Join(inside, p))
		if err != nil || string(got) != want {
			t.Errorf("%s inside the output = %q (%v), want %q", p, got, err, want)
		}
	}
	for link, target := range map[string]string{"abs": outside, "rel": climb} {
		if got, err := os.Readlink(filepath.Join(dir, link)); err != nil || got != target {
			t.Errorf("symlink %s -> %q (%v), want %q", link, got, err, target)
		}
	}
	assertNoSiblings(t, parent, "rootfs")
}

// symlinkTargets rebuilds img's layers with the given symlink targets.
func symlinkTargets(t *testing.T, img *Image, targets map[string]string) *Image {
	t.Helper()
	out := &Image{Store: img.Store, Config: img.Config}
	out.Config.RootFS.DiffIDs = nil
	for _, l := range img.Layers {
		rc, err := img.Store.Open(l.Digest)
		if err != nil {
			t.Fatal(err)
		}
		dr, _, err := layer.Decompress(rc)
		if err != nil {
			t.Fatal(err)
		}
		var hdrs []*tar.Header
		bodies := map[string][]byte{}
		tr := tar.NewReader(dr)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if target, ok := targets[h.Name]; ok {
				h.Linkname, h.Format = target, tar.FormatPAX
			}
			if bodies[h.Name], err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
			hdrs = append(hdrs, h)
		}
		rc.Close()
		putLayerHeaders(t, out, hdrs, bodies)
	}
	return out
}

// putLayerHeaders stores a gzip layer of hdrs with the given bodies.
func putLayerHeaders(t *testing.T, img *Image, hdrs []*tar.Header, bodies map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	w, err := img.Store.Writer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	desc, err := layer.Encode(ctx, w, layer.EncodeOptions{Compression: layer.Gzip}, func(out io.Writer) error {
		tw := tar.NewWriter(out)
		for _, h := range hdrs {
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			if _, err := tw.Write(bodies[h.Name]); err != nil {
				return err
			}
		}
		return tw.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.Commit(desc.Digest); err != nil {
		t.Fatal(err)
	}
	img.Layers = append(img.Layers, ocispecDesc(desc))
	img.Config.RootFS.DiffIDs = append(img.Config.RootFS.DiffIDs, desc.DiffID)
}

func ocispecDesc(d layer.Desc) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
}

func names(ents []os.DirEntry) []string {
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// hashFile returns the sha256 digest of the file at p.
func hashFile(t *testing.T, p string) digest.Digest {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return digest.Digest("sha256:" + hex.EncodeToString(h.Sum(nil)))
}
