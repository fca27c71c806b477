package executor_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ocibuilder/builder/internal/testutil"
	"github.com/ocibuilder/builder/pkg/executor"
	"github.com/ocibuilder/builder/pkg/oci"
	"github.com/ocibuilder/builder/pkg/parser"
)

// spec is one build: a Dockerfile, its context and options.
type spec struct {
	dockerfile string
	// context is written into a new context directory; nil with noContext
	// unset still gives an empty context.
	context   []testutil.Entry
	noContext bool
	// contextDir, when set, is used instead of writing context.
	contextDir string
	ignore     []string
	buildArgs  map[string]string
	target     string
	// base, when set, is given as the named context "base".
	base   string
	named  map[string]string
	labels map[string]string
	epoch  *time.Time
	client *http.Client
	// root is the state directory; a new one when empty.
	root string
}

// result is a successful build with its flattened filesystem.
type result struct {
	img    *oci.Image
	rootfs string
	root   string
}

func (s spec) options(t testing.TB) executor.Options {
	t.Helper()
	o := executor.Options{
		Root:            s.root,
		Ignore:          s.ignore,
		NamedContexts:   map[string]string{},
		SourceDateEpoch: s.epoch,
		Labels:          s.labels,
		HTTPClient:      s.client,
	}
	if o.Root == "" {
		o.Root = t.TempDir()
	}
	switch {
	case s.contextDir != "":
		o.Context = s.contextDir
	case !s.noContext:
		o.Context = t.TempDir()
		testutil.WriteTree(t, o.Context, s.context...)
	}
	if s.base != "" {
		o.NamedContexts["base"] = testutil.Layout(s.base)
	}
	for k, v := range s.named {
		o.NamedContexts[k] = v
	}
	return o
}

func (s spec) graph(t testing.TB) *parser.Graph {
	t.Helper()
	g, err := parser.Parse(strings.NewReader(s.dockerfile), parser.Options{
		Filename: "Dockerfile", BuildArgs: s.buildArgs, Target: s.target,
	})
	if err != nil {
		t.Fatalf("parsing Dockerfile: %v\n%s", err, s.dockerfile)
	}
	return g
}

// build runs s, which must succeed, checks the image with oci.Validate and
// flattens it into a directory.
func build(t testing.TB, s spec) *result {
	t.Helper()
	r, err := tryBuild(t, s, s.options(t))
	if err != nil {
		t.Fatalf("building:\n%s\nerror: %v", s.dockerfile, err)
	}
	return r
}

// tryBuild runs s with o and checks that the build left no scratch data
// behind. A successful build is checked with oci.Validate and flattened
// into a directory.
func tryBuild(t testing.TB, s spec, o executor.Options) (*result, error) {
	t.Helper()
	ctx := context.Background()
	img, err := executor.Build(ctx, s.graph(t), o)
	checkNoLeftovers(t, o.Root)
	if err != nil {
		return nil, err
	}
	if err := oci.Validate(ctx, img); err != nil {
		t.Fatalf("validating the built image: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "rootfs")
	if err := oci.WriteRootfs(ctx, img, dir, oci.WriteOptions{}); err != nil {
		t.Fatalf("flattening the built image: %v", err)
	}
	return &result{img: img, rootfs: dir, root: o.Root}, nil
}

// buildErr runs s, which must fail with a *parser.Error naming the
// Dockerfile, and checks that the build left no scratch data behind.
func buildErr(t testing.TB, s spec) (error, *parser.Error) {
	t.Helper()
	o := s.options(t)
	img, err := executor.Build(context.Background(), s.graph(t), o)
	if err == nil {
		t.Fatalf("building:\n%s\nsucceeded with %d layers, want an error", s.dockerfile, len(img.Layers))
	}
	checkNoLeftovers(t, o.Root)
	var pe *parser.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *parser.Error", err, err)
	}
	if pe.Loc.File != "Dockerfile" {
		t.Errorf("error %v names file %q, want Dockerfile", err, pe.Loc.File)
	}
	return err, pe
}

// checkNoLeftovers fails when root/tmp holds scratch data of a finished
// build: its directory, its lock or a half-written blob. A build refused
// before it opened the state directory leaves root empty.
func checkNoLeftovers(t testing.TB, root string) {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(root, "tmp"))
	if errors.Is(err, fs.ErrNotExist) {
		if all, err := os.ReadDir(root); err != nil || len(all) != 0 {
			t.Errorf("state directory without tmp holds %v (%v)", all, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("reading state tmp: %v", err)
	}
	for _, e := range ents {
		t.Errorf("state directory holds leftover tmp/%s", e.Name())
	}
}

// path returns the host path of the image path p.
func (r *result) path(p string) string {
	return filepath.Join(r.rootfs, filepath.FromSlash(strings.TrimPrefix(p, "/")))
}

// read returns the content of the image file p.
func (r *result) read(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(r.path(p))
	if err != nil {
		t.Fatalf("reading image file %s: %v", p, err)
	}
	return string(b)
}

// lstat returns the image entry p, failing when it is missing.
func (r *result) lstat(t testing.TB, p string) fs.FileInfo {
	t.Helper()
	fi, err := os.Lstat(r.path(p))
	if err != nil {
		t.Fatalf("image entry %s: %v", p, err)
	}
	return fi
}

// exists reports whether the image has an entry at p (not following a
// final symlink).
func (r *result) exists(p string) bool {
	_, err := os.Lstat(r.path(p))
	return err == nil
}

// owner returns the uid and gid of image entry p.
func (r *result) owner(t testing.TB, p string) (uint32, uint32) {
	t.Helper()
	st := r.lstat(t, p).Sys().(*syscall.Stat_t)
	return st.Uid, st.Gid
}

// mode returns the permission and special bits of image entry p.
func (r *result) mode(t testing.TB, p string) fs.FileMode {
	t.Helper()
	return r.lstat(t, p).Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
}

// files lists the regular files, symlinks and directories below image
// directory p, as slash paths relative to it, directories with a
// trailing slash.
func (r *result) files(t testing.TB, p string) []string {
	t.Helper()
	base := r.path(p)
	var out []string
	err := filepath.WalkDir(base, func(hp string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(base, hp)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			rel += "/"
		}
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatalf("listing image directory %s: %v", p, err)
	}
	return out
}

// wantFile checks that image path p is a regular file with content body.
func (r *result) wantFile(t testing.TB, p, body string) {
	t.Helper()
	fi := r.lstat(t, p)
	if !fi.Mode().IsRegular() {
		t.Errorf("image entry %s is %v, want a regular file", p, fi.Mode().Type())
		return
	}
	if got := r.read(t, p); got != body {
		t.Errorf("image file %s holds %q, want %q", p, got, body)
	}
}

// equalJSON reports whether a and b encode to the same JSON.
func equalJSON(a, b any) bool {
	ja, erra := json.Marshal(a)
	jb, errb := json.Marshal(b)
	return erra == nil && errb == nil && string(ja) == string(jb)
}

// file is a shorthand for testutil.File.
func file(p, body string) testutil.Entry { return testutil.File(p, body) }
