package testutil

import (
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/internal/fsutil"
	"github.com/ocibuilder/builder/internal/platforms"
	"github.com/ocibuilder/builder/pkg/layer"
	"github.com/ocibuilder/builder/pkg/oci"
)

// TreeTime returns the mtime WriteTree gives every entry, so that tests
// can check that copies keep the source's timestamps.
func TreeTime() time.Time { return time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC) }

// Entry describes one path of a test tree. Exactly one of Body (a regular
// file, the default), Dir, Link (a symlink) or HardLink (a hard link to
// another entry of the tree, written earlier) applies.
type Entry struct {
	// Path is slash-separated and relative to the tree's root.
	Path string
	Body string
	Dir  bool
	// Link is the target of a symlink.
	Link string
	// HardLink is the Path of an earlier regular file to link to.
	HardLink string
	// Mode is the permission (and setuid/setgid/sticky) bits; zero means
	// 0644 for files and 0755 for directories.
	Mode fs.FileMode
	// UID and GID own the entry.
	UID, GID int
}

// File is a regular file entry with the default mode, owned by root.
func File(p, body string) Entry { return Entry{Path: p, Body: body} }

// Dir is a directory entry with the default mode, owned by root.
func Dir(p string) Entry { return Entry{Path: p, Dir: true} }

// Symlink is a symlink entry.
func Symlink(p, target string) Entry { return Entry{Path: p, Link: target} }

// WriteTree creates entries below dir, making missing parent directories
// (0755, root) on the way, and then sets every mtime of the tree to
// TreeTime, so that the tree is the same whenever it is written.
func WriteTree(t testing.TB, dir string, entries ...Entry) {
	t.Helper()
	for _, e := range entries {
		host := filepath.Join(dir, filepath.FromSlash(e.Path))
		if err := os.MkdirAll(filepath.Dir(host), 0o755); err != nil {
			t.Fatalf("creating parent of %s: %v", e.Path, err)
		}
		mode := e.Mode
		switch {
		case e.Dir:
			if mode == 0 {
				mode = 0o755
			}
			if err := os.Mkdir(host, 0o755); err != nil && !os.IsExist(err) {
				t.Fatalf("creating %s: %v", e.Path, err)
			}
		case e.Link != "":
			if err := os.Symlink(e.Link, host); err != nil {
				t.Fatalf("creating %s: %v", e.Path, err)
			}
		case e.HardLink != "":
			if err := os.Link(filepath.Join(dir, filepath.FromSlash(e.HardLink)), host); err != nil {
				t.Fatalf("creating %s: %v", e.Path, err)
			}
			continue
		default:
			if mode == 0 {
				mode = 0o644
			}
			if err := os.WriteFile(host, []byte(e.Body), 0o600); err != nil {
				t.Fatalf("creating %s: %v", e.Path, err)
			}
		}
		if err := os.Lchown(host, e.UID, e.GID); err != nil {
			t.Fatalf("chown %s: %v", e.Path, err)
		}
		if e.Link == "" {
			// After chown, which clears setuid and setgid.
			if err := os.Chmod(host, mode); err != nil {
				t.Fatalf("chmod %s: %v", e.Path, err)
			}
		}
	}
	SetTreeTimes(t, dir, TreeTime())
}

// SetTreeTimes sets the mtime and atime of every entry below dir
// (symlinks themselves included) and of dir to mt, children before their
// directory.
func SetTreeTimes(t testing.TB, dir string, mt time.Time) {
	t.Helper()
	if err := fsutil.SetTreeTimes(dir, mt); err != nil {
		t.Fatal(err)
	}
}

// BaseEntries is the tree of the image BaseLayout writes: users root (0),
// app (1000:1000) and www (33:33); groups root, app (1000), www (33) and
// staff (50); a /bin directory; and /usr/local/app, a symlink to the
// directory /opt/app.
func BaseEntries() []Entry {
	return []Entry{
		Dir("bin"),
		File("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"+
			"app:x:1000:1000:app:/home/app:/bin/sh\n"+
			"www:x:33:33:www-data:/var/www:/usr/sbin/nologin\n"),
		File("etc/group", "root:x:0:\nwww:x:33:\nstaff:x:50:app\napp:x:1000:\n"),
		Dir("opt/app"),
		Dir("usr/local"),
		Symlink("usr/local/app", "/opt/app"),
	}
}

// BaseLayout writes a single-layer image holding BaseEntries followed by
// extra as an OCI image layout in a new temporary directory, tagged
// "latest", and returns the directory. Use it as the named build context
// Layout(dir), that is "oci-layout://" + dir + ":latest".
func BaseLayout(t testing.TB, extra ...Entry) string {
	t.Helper()
	return ImageLayout(t, append(BaseEntries(), extra...)...)
}

// ImageLayout writes a single-layer image holding entries as an OCI image
// layout in a new temporary directory, tagged "latest", and returns the
// directory.
func ImageLayout(t testing.TB, entries ...Entry) string {
	t.Helper()
	ctx := context.Background()
	tree := t.TempDir()
	WriteTree(t, tree, entries...)
	store, err := oci.OpenStore(t.TempDir())
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	w, err := store.Writer(ctx)
	if err != nil {
		t.Fatalf("writing layer: %v", err)
	}
	defer w.Close()
	desc, err := layer.Encode(ctx, w, layer.EncodeOptions{}, func(tw io.Writer) error {
		return layer.WriteTar(ctx, tw, tree, walkAdded(tree), layer.TarOptions{})
	})
	if err != nil {
		t.Fatalf("encoding layer: %v", err)
	}
	if _, _, err := w.Commit(desc.Digest); err != nil {
		t.Fatalf("storing layer: %v", err)
	}
	created := TreeTime()
	var cfg dockerspec.DockerOCIImage
	cfg.Created = &created
	cfg.Platform = platforms.Default()
	cfg.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{desc.DiffID}}
	cfg.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cfg.Config.Cmd = []string{"/bin/sh"}
	cfg.History = []ocispec.History{{Created: &created, CreatedBy: "test base"}}
	img := &oci.Image{
		Config: cfg,
		Layers: []ocispec.Descriptor{{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}},
		Store:  store,
	}
	dir := filepath.Join(t.TempDir(), "layout")
	if err := oci.WriteLayout(ctx, img, dir, oci.WriteOptions{RefNames: []string{"base:latest"}}); err != nil {
		t.Fatalf("writing layout: %v", err)
	}
	return dir
}

// walkAdded reports every entry below root as added, in the lexical
// order of path components that layer.Changes requires (WalkDir's order).
func walkAdded(root string) layer.Changes {
	return func(ctx context.Context, fn layer.ChangeFunc) error {
		return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			rel, err := filepath.Rel(root, p)
			if err != nil || rel == "." {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			return fn(layer.ChangeAdd, filepath.ToSlash(rel), fi)
		})
	}
}

// Layout returns the named build context value for a layout written by
// BaseLayout or ImageLayout.
func Layout(dir string) string {
	return "oci-layout://" + strings.TrimSuffix(dir, "/") + ":latest"
}
