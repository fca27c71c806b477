package oci

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

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

// layoutBlobs returns the blob files of the layout at dir.
func layoutBlobs(t *testing.T, dir string) []string {
	t.Helper()
	blobs, err := filepath.Glob(filepath.Join(dir, "blobs", "sha256", "*"))
	if err != nil || len(blobs) == 0 {
		t.Fatalf("layout %s has no blobs (%v)", dir, err)
	}
	return blobs
}

// checkBlobFiles fails for every blob file that does not hash to its name.
func checkBlobFiles(t *testing.T, blobs []string) {
	t.Helper()
	for _, b := range blobs {
		if got := hashFile(t, b); got.Encoded() != filepath.Base(b) {
			t.Errorf("blob %s holds content hashing to %s", b, got)
		}
	}
}

// TestWriteLayoutOutputsShareNothing: what a user does to a layout
// directory's blobs (chmod, editing in place without changing the size)
// reaches neither the store nor another output, and the next export is
// complete and verifies.
func TestWriteLayoutOutputsShareNothing(t *testing.T) {
	s := newStore(t)
	img := testImage(t, s, layer.Gzip, baseLayer(), upperLayer())
	parent := t.TempDir()
	first, second := filepath.Join(parent, "first"), filepath.Join(parent, "second")
	for _, dir := range []string{first, second} {
		if err := WriteLayout(context.Background(), img, dir, WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	storeBlobs := layoutBlobs(t, s.Root())
	modes := map[string]fs.FileMode{}
	for _, b := range storeBlobs {
		fi, err := os.Stat(b)
		if err != nil {
			t.Fatal(err)
		}
		modes[b] = fi.Mode()
	}

	for _, b := range layoutBlobs(t, first) {
		if err := os.Chmod(b, 0o666); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(b, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("EDITED"), 0); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}

	checkBlobFiles(t, storeBlobs)
	for _, b := range storeBlobs {
		if fi, err := os.Stat(b); err != nil || fi.Mode() != modes[b] {
			t.Errorf("THE STORE WAS CHANGED THROUGH AN OUTPUT: %s mode %v, was %v (%v)", b, fi.Mode(), modes[b], err)
		}
	}
	checkBlobFiles(t, layoutBlobs(t, second))
	if err := Validate(context.Background(), img); err != nil {
		t.Fatalf("the store no longer validates: %v", err)
	}
	for _, dir := range []string{first, filepath.Join(parent, "third")} {
		if err := WriteLayout(context.Background(), img, dir, WriteOptions{}); err != nil {
			t.Fatalf("exporting again to %s: %v", dir, err)
		}
		checkBlobFiles(t, layoutBlobs(t, dir))
		read, err := ReadLayout(context.Background(), dir, "", ocispec.Platform{}, newStore(t))
		if err == nil {
			err = Validate(context.Background(), read)
		}
		if err != nil {
			t.Errorf("the new export %s does not read back: %v", dir, err)
		}
	}
}

// TestWriteLayoutCorruptStoreBlob: a store blob damaged on disk without a
// change of size fails the export with an error naming its digest; no
// output appears and a previous one is kept.
func TestWriteLayoutCorruptStoreBlob(t *testing.T) {
	for _, existing := range []bool{false, true} {
		s := newStore(t)
		img := testImage(t, s, layer.Gzip, baseLayer(), upperLayer())
		parent := t.TempDir()
		dir := filepath.Join(parent, "layout")
		if existing {
			if err := WriteLayout(context.Background(), img, dir, WriteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		before := snapshotTree(t, dir)
		d := img.Layers[1].Digest
		f, err := os.OpenFile(s.Path(d), os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte{0xff, 0xff, 0xff, 0xff}, 20); err != nil {
			t.Fatal(err)
		}
		f.Close()

		err = WriteLayout(context.Background(), img, dir, WriteOptions{RefNames: []string{"new"}})
		var mismatch *DigestMismatchError
		if !errors.As(err, &mismatch) || !strings.Contains(err.Error(), d.String()) {
			t.Fatalf("export of a damaged blob: err = %v, want a DigestMismatchError naming %s", err, d)
		}
		if got := snapshotTree(t, dir); !reflect.DeepEqual(got, before) {
			t.Errorf("failed export changed the destination:\n got %v\nwant %v", got, before)
		}
		if existing {
			assertNoSiblings(t, parent, "layout")
		} else {
			assertNoSiblings(t, parent)
		}
	}
}

// BenchmarkWriteLayoutLargeBlob exports a layout holding one 320 MiB
// layer blob, copied (ext4 and tmpfs cannot clone) and hashed in one pass,
// each blob fsynced.
func BenchmarkWriteLayoutLargeBlob(b *testing.B) {
	const size = 320 << 20
	s := newStore(b)
	img := &Image{Store: s}
	created := testCreated()
	img.Config.Created = &created
	img.Config.Platform = ocispecPlatform()
	img.Config.RootFS.Type = "layers"
	ctx := context.Background()
	w, err := s.Writer(ctx)
	if err != nil {
		b.Fatal(err)
	}
	desc, err := layer.Encode(ctx, w, layer.EncodeOptions{Compression: layer.Uncompressed}, func(out io.Writer) error {
		tw := tar.NewWriter(out)
		if err := tw.WriteHeader(&tar.Header{Name: "big", Typeflag: tar.TypeReg, Mode: 0o644, Size: size, ModTime: created}); err != nil {
			return err
		}
		if _, err := io.CopyN(tw, noise(), size); err != nil {
			return err
		}
		return tw.Close()
	})
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := w.Commit(desc.Digest); err != nil {
		b.Fatal(err)
	}
	w.Close()
	img.Layers = []ocispec.Descriptor{ocispecDesc(desc)}
	img.Config.RootFS.DiffIDs = []digest.Digest{desc.DiffID}
	img.Config.History = []ocispec.History{{Created: &created, CreatedBy: "COPY big"}}
	parent := b.TempDir()
	b.SetBytes(desc.Size)
	b.ResetTimer()
	for i := range b.N {
		dir := filepath.Join(parent, "layout"+strconv.Itoa(i))
		if err := WriteLayout(ctx, img, dir, WriteOptions{}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := os.RemoveAll(dir); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// noise is a fast deterministic source of incompressible bytes.
func noise() io.Reader { return rand.NewChaCha8([32]byte{1}) }

func ocispecPlatform() ocispec.Platform { return ocispec.Platform{OS: "linux", Architecture: "amd64"} }

// reflinkDir returns a directory on a freshly made XFS filesystem with
// reflinks, or skips the test where one cannot be made (not root, no
// mkfs.xfs, no loop devices).
func reflinkDir(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a filesystem needs root")
	}
	mkfs, err := exec.LookPath("mkfs.xfs")
	if err != nil {
		t.Skip("mkfs.xfs not installed (xfsprogs)")
	}
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "fs.img"), filepath.Join(dir, "mnt")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 512<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(mkfs, "-q", "-m", "reflink=1", img).CombinedOutput(); err != nil {
		t.Skipf("mkfs.xfs: %v\n%s", err, out)
	}
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		t.Skipf("mounting a loop device: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, 0); err != nil {
			t.Errorf("unmounting %s: %v", mnt, err)
		}
	})
	return mnt
}

// TestExportBlobReflink: on a filesystem that clones, blobs are reflinked,
// verified by reading the clone back, and still share nothing with the
// store once written to.
func TestExportBlobReflink(t *testing.T) {
	mnt := reflinkDir(t)
	s, err := OpenStore(filepath.Join(mnt, "store"))
	if err != nil {
		t.Fatal(err)
	}
	img := testImage(t, s, layer.Gzip, baseLayer(), upperLayer())
	d := img.Layers[0]
	dst := filepath.Join(mnt, "blob")
	cloned, err := exportBlob(context.Background(), s, d, dst, make([]byte, exportBufSize))
	if err != nil || !cloned {
		t.Fatalf("exportBlob on XFS: cloned %v, err %v; want a reflink", cloned, err)
	}
	if got := hashFile(t, dst); got != d.Digest {
		t.Fatalf("clone hashes to %s, want %s", got, d.Digest)
	}
	if err := os.WriteFile(dst, []byte("EDITED"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := hashFile(t, s.Path(d.Digest)); got != d.Digest {
		t.Fatalf("THE STORE WAS CHANGED THROUGH A CLONE: %s hashes to %s", d.Digest, got)
	}

	layout := filepath.Join(mnt, "layout")
	if err := WriteLayout(context.Background(), img, layout, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	checkBlobFiles(t, layoutBlobs(t, layout))

	f, err := os.OpenFile(s.Path(d.Digest), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xff, 0xff, 0xff, 0xff}, 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var mismatch *DigestMismatchError
	cloned, err = exportBlob(context.Background(), s, d, filepath.Join(mnt, "damaged"), make([]byte, exportBufSize))
	if !cloned || !errors.As(err, &mismatch) {
		t.Fatalf("cloning a damaged blob: cloned %v, err %v; want a DigestMismatchError", cloned, err)
	}
}
