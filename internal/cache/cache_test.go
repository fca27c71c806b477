package cache_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ocibuilder/builder/internal/cache"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// open returns the cache of a new state directory and that directory.
func open(t *testing.T) (*cache.Cache, string) {
	t.Helper()
	root := t.TempDir()
	c, err := cache.Open(filepath.Join(root, "cache"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return c, root
}

// layerRecord is a record of key name with a layer of the given size.
func layerRecord(name string, size int64) cache.Record {
	return cache.Record{
		Key: digest.FromString("key " + name),
		Layer: &ocispec.Descriptor{
			MediaType: ocispec.MediaTypeImageLayerGzip,
			Digest:    digest.FromString("blob " + name),
			Size:      size,
		},
		DiffID: digest.FromString("diff " + name),
		Below:  digest.FromString("below " + name),
	}
}

func recordPath(root string, key digest.Digest) string {
	return filepath.Join(root, "cache", "records", key.Encoded()+".json")
}

func put(t *testing.T, c *cache.Cache, recs ...cache.Record) {
	t.Helper()
	for _, r := range recs {
		if err := c.Put(r); err != nil {
			t.Fatalf("Put %s: %v", r.Key, err)
		}
	}
}

// setUsed sets the last use of the record of key, as Get would.
func setUsed(t *testing.T, root string, key digest.Digest, at time.Time) {
	t.Helper()
	if err := os.Chtimes(recordPath(root, key), at, at); err != nil {
		t.Fatalf("setting the last use of %s: %v", key, err)
	}
}

func TestPutGet(t *testing.T) {
	c, _ := open(t)
	withLayer := layerRecord("a", 123)
	empty := cache.Record{Key: digest.FromString("key empty")}
	put(t, c, withLayer, empty)
	for _, want := range []cache.Record{withLayer, empty} {
		got, ok, err := c.Get(want.Key)
		if err != nil || !ok {
			t.Fatalf("Get %s = ok %v, err %v; want the record", want.Key, ok, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Get %s = %+v, want %+v", want.Key, got, want)
		}
	}
	// A later Put replaces the record.
	replaced := layerRecord("b", 7)
	replaced.Key = withLayer.Key
	put(t, c, replaced)
	if got, ok, err := c.Get(withLayer.Key); err != nil || !ok || got.Layer.Digest != replaced.Layer.Digest {
		t.Errorf("Get after a second Put = %+v, %v, %v; want %+v", got, ok, err, replaced)
	}
}

func TestPutRejectsInvalidKey(t *testing.T) {
	c, root := open(t)
	if err := c.Put(cache.Record{Key: "sha256:nothex"}); err == nil {
		t.Error("Put of a record with an invalid key succeeded")
	}
	ents, err := os.ReadDir(filepath.Join(root, "cache", "records"))
	if err != nil || len(ents) != 0 {
		t.Errorf("records directory after a rejected Put: %v, %v; want it empty", ents, err)
	}
}

func TestGetMissing(t *testing.T) {
	c, _ := open(t)
	for _, key := range []digest.Digest{digest.FromString("absent"), "", "sha256:nothex"} {
		rec, ok, err := c.Get(key)
		if ok || err != nil || rec != (cache.Record{}) {
			t.Errorf("Get(%q) = %+v, %v, %v; want a miss without error", key, rec, ok, err)
		}
	}
}

func TestGetCorrupt(t *testing.T) {
	key := digest.FromString("key corrupt")
	good := layerRecord("corrupt", 10)
	good.Key = key
	encode := func(r cache.Record) string {
		raw, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return string(raw)
	}
	full := encode(good)
	otherKey := good
	otherKey.Key = digest.FromString("another key")
	badLayer := good
	badLayer.Layer = &ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: "sha256:zz", Size: 10}
	noDiffID := good
	noDiffID.DiffID = ""
	diffIDOnly := cache.Record{Key: key, DiffID: good.DiffID}
	noMediaType := good
	noMediaType.Layer = &ocispec.Descriptor{Digest: good.Layer.Digest, Size: 10}
	negSize := good
	negSize.Layer = &ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: good.Layer.Digest, Size: -1}
	badBelow := good
	badBelow.Below = "sha256:short"
	tests := []struct {
		name, body string
	}{
		{"garbage", "\x00\x01 not json at all"},
		{"empty file", ""},
		{"truncated JSON", full[:len(full)/2]},
		{"key differs from the file name", encode(otherKey)},
		{"layer with an invalid digest", encode(badLayer)},
		{"layer without diff ID", encode(noDiffID)},
		{"diff ID without layer", encode(diffIDOnly)},
		{"layer without media type", encode(noMediaType)},
		{"layer with a negative size", encode(negSize)},
		{"invalid chain ID below", encode(badBelow)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, root := open(t)
			if err := os.WriteFile(recordPath(root, key), []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			rec, ok, err := c.Get(key)
			if ok || !errors.Is(err, cache.ErrCorrupt) {
				t.Errorf("Get = %+v, ok %v, err %v; want a miss with an error wrapping ErrCorrupt", rec, ok, err)
			}
			if err != nil && !strings.Contains(err.Error(), key.String()) {
				t.Errorf("error %q does not name the key", err)
			}
		})
	}
	t.Run("valid control", func(t *testing.T) {
		c, root := open(t)
		if err := os.WriteFile(recordPath(root, key), []byte(full), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := c.Get(key); !ok || err != nil {
			t.Errorf("Get of the hand-written valid record = ok %v, err %v", ok, err)
		}
	})
}

func TestTrim(t *testing.T) {
	c, root := open(t)
	a, b, d := layerRecord("a", 1), layerRecord("b", 2), cache.Record{Key: digest.FromString("key d")}
	put(t, c, a, b, d)
	dir := filepath.Join(root, "cache", "records")
	junk := map[string]string{
		digest.FromString("garbage").Encoded() + ".json": "garbage",
		"leftover.tmp": "{}",
		digest.FromString("mismatch").Encoded() + ".json": func() string {
			raw, _ := json.Marshal(a) // a's record under another name
			return string(raw)
		}(),
	}
	for name, body := range junk {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var seen []digest.Digest
	n, err := c.Trim(func(r cache.Record) bool {
		seen = append(seen, r.Key)
		return r.Key == b.Key
	})
	if err != nil {
		t.Fatalf("Trim: %v", err)
	}
	if want := 1 + len(junk); n != want {
		t.Errorf("Trim removed %d files, want %d", n, want)
	}
	slices.Sort(seen)
	want := []digest.Digest{a.Key, b.Key, d.Key}
	slices.Sort(want)
	if !slices.Equal(seen, want) {
		t.Errorf("drop was asked about %v, want the valid records %v", seen, want)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range ents {
		left = append(left, e.Name())
	}
	wantLeft := []string{a.Key.Encoded() + ".json", d.Key.Encoded() + ".json"}
	slices.Sort(wantLeft)
	if !slices.Equal(left, wantLeft) {
		t.Errorf("records left after Trim: %v, want %v", left, wantLeft)
	}
	if _, ok, _ := c.Get(b.Key); ok {
		t.Error("the dropped record is still found")
	}
	if _, ok, err := c.Get(a.Key); !ok || err != nil {
		t.Errorf("a kept record is gone: ok %v, err %v", ok, err)
	}
}

func TestListOrdersByLastUse(t *testing.T) {
	c, root := open(t)
	a, b, d := layerRecord("a", 1), layerRecord("b", 2), cache.Record{Key: digest.FromString("key d")}
	put(t, c, a, b, d)
	if err := os.WriteFile(filepath.Join(root, "cache", "records", digest.FromString("x").Encoded()+".json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	setUsed(t, root, a.Key, t0.Add(2*time.Hour))
	setUsed(t, root, b.Key, t0)
	setUsed(t, root, d.Key, t0.Add(time.Hour))
	check := func(want ...digest.Digest) []cache.Usage {
		t.Helper()
		list, err := c.List()
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		var got []digest.Digest
		for _, u := range list {
			got = append(got, u.Key)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("List order = %v, want %v", got, want)
		}
		return list
	}
	list := check(a.Key, d.Key, b.Key)
	if !list[0].LastUsed.Equal(t0.Add(2*time.Hour)) || !list[2].LastUsed.Equal(t0) {
		t.Errorf("LastUsed = %v, %v; want the times set", list[0].LastUsed, list[2].LastUsed)
	}
	if !reflect.DeepEqual(list[0].Record, a) {
		t.Errorf("List record = %+v, want %+v", list[0].Record, a)
	}
	// Get marks b as used now, which is later than the times above.
	if _, ok, err := c.Get(b.Key); !ok || err != nil {
		t.Fatalf("Get: ok %v, err %v", ok, err)
	}
	check(b.Key, a.Key, d.Key)
}

func TestKeep(t *testing.T) {
	c, root := open(t)
	// Most recently used first: r1 100 B, none (no layer), r3 50 B,
	// r4 200 B, r5 10 B.
	r1, r3, r4, r5 := layerRecord("1", 100), layerRecord("3", 50), layerRecord("4", 200), layerRecord("5", 10)
	none := cache.Record{Key: digest.FromString("key none")}
	blobs, diffIDs := c.Keep(160)
	// The sequences read the records when first iterated, not before.
	put(t, c, r1, none, r3, r4, r5)
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, r := range []cache.Record{r1, none, r3, r4, r5} {
		setUsed(t, root, r.Key, t0.Add(-time.Duration(i)*time.Hour))
	}
	// r4 does not fit next to r1 and r3; the prune keeps the most
	// recent layers, so r5 is not kept either although it would fit.
	wantBlobs := []digest.Digest{r1.Layer.Digest, r3.Layer.Digest}
	wantDiffs := []digest.Digest{r1.DiffID, r3.DiffID}
	if got := slices.Collect(blobs); !slices.Equal(got, wantBlobs) {
		t.Errorf("blobs = %v, want %v", got, wantBlobs)
	}
	if got := slices.Collect(diffIDs); !slices.Equal(got, wantDiffs) {
		t.Errorf("diffIDs = %v, want %v", got, wantDiffs)
	}
	// A second iteration gives the same selection, even after a change.
	put(t, c, layerRecord("new", 1))
	if got := slices.Collect(blobs); !slices.Equal(got, wantBlobs) {
		t.Errorf("blobs iterated again = %v, want %v", got, wantBlobs)
	}
	// Stopping early is honoured.
	n := 0
	for range blobs {
		n++
		break
	}
	if n != 1 {
		t.Errorf("iterated %d blobs after break", n)
	}

	t.Run("limit fits all", func(t *testing.T) {
		b, _ := c.Keep(1 << 20)
		if got := len(slices.Collect(b)); got != 5 {
			t.Errorf("kept %d layers, want all 5", got)
		}
	})
	t.Run("zero limit", func(t *testing.T) {
		b, d := c.Keep(0)
		if got := slices.Collect(b); len(got) != 0 {
			t.Errorf("kept %v with a zero limit", got)
		}
		if got := slices.Collect(d); len(got) != 0 {
			t.Errorf("kept diff IDs %v with a zero limit", got)
		}
	})
}

func TestLastBuild(t *testing.T) {
	c, root := open(t)
	id := cache.StepID("/ctx", "Dockerfile", "build", "step", "2")
	if e := c.LastBuild(id); e != nil {
		t.Errorf("LastBuild of an unknown step = %+v, want nil", e)
	}
	if f := c.LastFiles(id); f != nil {
		t.Errorf("LastFiles of an unknown step = %+v, want nil", f)
	}
	in := cache.Input{Op: "COPY", Args: []string{"src/", "/dst/"}, Files: digest.FromString("files")}
	files := []cache.File{
		{Path: "src", Mode: uint32(os.ModeDir | 0o755)},
		{Path: "src/unique-file-name.txt", Mode: 0o644, Digest: digest.FromString("a")},
		{Path: "src/link", Mode: uint32(os.ModeSymlink | 0o777), Link: "unique-file-name.txt"},
	}
	e := &cache.Entry{Text: "COPY src/ /dst/", Key: in.Key(), Input: in, Files: files}
	if err := c.SetLastBuild(id, e); err != nil {
		t.Fatalf("SetLastBuild: %v", err)
	}
	got := c.LastBuild(id)
	want := *e
	want.Files = nil
	if got == nil || !reflect.DeepEqual(*got, want) {
		t.Errorf("LastBuild = %+v, want %+v", got, want)
	}
	if gotFiles := c.LastFiles(id); !reflect.DeepEqual(gotFiles, files) {
		t.Errorf("LastFiles = %+v, want %+v", gotFiles, files)
	}
	if e.Files == nil {
		t.Error("SetLastBuild cleared the caller's file list")
	}
	// The file list is stored apart, so that reading the entry does not
	// read it.
	raw, err := os.ReadFile(filepath.Join(root, "cache", "steps", id+".json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "unique-file-name") {
		t.Errorf("the step entry holds the file list: %s", raw)
	}
	if _, err := os.Stat(filepath.Join(root, "cache", "steps", id+".files.json")); err != nil {
		t.Errorf("no separate file list: %v", err)
	}

	// A later build without files removes the list.
	e2 := &cache.Entry{Text: "WORKDIR /x", Key: digest.FromString("k2"), Input: cache.Input{Op: "WORKDIR"}}
	if err := c.SetLastBuild(id, e2); err != nil {
		t.Fatalf("SetLastBuild: %v", err)
	}
	if got := c.LastBuild(id); got == nil || got.Text != e2.Text || got.Key != e2.Key {
		t.Errorf("LastBuild after replacing = %+v, want %+v", got, e2)
	}
	if f := c.LastFiles(id); f != nil {
		t.Errorf("LastFiles after a build without files = %+v, want nil", f)
	}

	// Steps are separate.
	other := cache.StepID("/ctx", "Dockerfile", "build", "step", "3")
	if e := c.LastBuild(other); e != nil {
		t.Errorf("LastBuild of another step = %+v, want nil", e)
	}

	// An unreadable entry is no entry.
	if err := os.WriteFile(filepath.Join(root, "cache", "steps", id+".json"), []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if e := c.LastBuild(id); e != nil {
		t.Errorf("LastBuild of a garbage entry = %+v, want nil", e)
	}
}

func TestStepID(t *testing.T) {
	a := cache.StepID("/ctx", "Dockerfile", "build", "step", "1")
	if b := cache.StepID("/ctx", "Dockerfile", "build", "step", "1"); a != b {
		t.Errorf("StepID is not stable: %s, %s", a, b)
	}
	if len(a) != 32 || strings.Trim(a, "0123456789abcdef") != "" {
		t.Errorf("StepID %q is not 32 hex digits", a)
	}
	// Parts are delimited: moving a character between parts changes
	// the ID.
	distinct := map[string][]string{}
	for _, parts := range [][]string{
		{"/ctx", "Dockerfile", "build", "step", "1"},
		{"/ctx", "Dockerfile", "build", "step", "2"},
		{"/ctx", "Dockerfile", "build", "onbuild", "1"},
		{"/ctx", "Dockerfile", "test", "step", "1"},
		{"/ctx", "other.Dockerfile", "build", "step", "1"},
		{"/ctx2", "Dockerfile", "build", "step", "1"},
		{"/ct", "xDockerfile", "build", "step", "1"},
	} {
		id := cache.StepID(parts...)
		if prev, ok := distinct[id]; ok {
			t.Errorf("StepID(%q) = StepID(%q)", parts, prev)
		}
		distinct[id] = parts
	}
}

// fullInput sets every field of Input.
func fullInput() cache.Input {
	return cache.Input{
		Parent:    digest.FromString("parent"),
		Base:      "busybox@" + digest.FromString("manifest").String(),
		Op:        "RUN",
		Args:      []string{"/bin/sh", "-c", "make all"},
		BuildArgs: []string{"V=1", "W=2"},
		Env:       []string{"PATH=/usr/bin:/bin", "X=1"},
		User:      "app",
		Workdir:   "/src",
		Platform:  "linux/amd64",
		Network:   "none",
		Sources:   []string{"stage build " + digest.FromString("stage").String()},
		Files:     digest.FromString("files"),
		Epoch:     "1700000000",
		Layer:     "gzip",
	}
}

// goldenKey is the key of fullInput: sha256 of its compact JSON with
// fields in declaration order, "v":2 first. A change of the encoding
// changes every key and so retires every stored record; it must be
// deliberate.
const goldenKey = "sha256:88af294a33570cd963d01dd211af47d13926ef9edab0c3244084f0bbb1a82f0c"

func TestInputKeyGolden(t *testing.T) {
	in := fullInput()
	k1 := in.Key()
	again := fullInput()
	if k2 := again.Key(); k1 != k2 {
		t.Fatalf("the same input gives keys %s and %s", k1, k2)
	}
	if k3 := in.Key(); k1 != k3 {
		t.Fatalf("keying an input twice gives %s and %s", k1, k3)
	}
	if in.Version != cache.Version {
		t.Errorf("Key left Version %d, want %d", in.Version, cache.Version)
	}
	if k1 != goldenKey {
		t.Errorf("key of the golden input = %s, want %s: the key encoding changed, which retires every stored record", k1, goldenKey)
	}
	// A stale Version in the value is replaced, not hashed.
	old := fullInput()
	old.Version = cache.Version + 7
	if k := old.Key(); k != k1 {
		t.Errorf("key with a stale Version field = %s, want %s", k, k1)
	}
}

func TestInputKeyChangesWithEveryField(t *testing.T) {
	tests := map[string]func(*cache.Input){
		"Parent":    func(in *cache.Input) { in.Parent = digest.FromString("other parent") },
		"Base":      func(in *cache.Input) { in.Base = "busybox@" + digest.FromString("other").String() },
		"Op":        func(in *cache.Input) { in.Op = "COPY" },
		"Args":      func(in *cache.Input) { in.Args = []string{"/bin/sh", "-c", "make", "all"} },
		"BuildArgs": func(in *cache.Input) { in.BuildArgs = []string{"V=1", "W=3"} },
		"Env":       func(in *cache.Input) { in.Env = []string{"PATH=/usr/bin:/bin", "X=1", "Y="} },
		"User":      func(in *cache.Input) { in.User = "root" },
		"Workdir":   func(in *cache.Input) { in.Workdir = "/" },
		"Platform":  func(in *cache.Input) { in.Platform = "linux/arm64" },
		"Network":   func(in *cache.Input) { in.Network = "" },
		"Sources":   func(in *cache.Input) { in.Sources = nil },
		"Files":     func(in *cache.Input) { in.Files = digest.FromString("other files") },
		"Epoch":     func(in *cache.Input) { in.Epoch = "1700000001" },
		"Layer":     func(in *cache.Input) { in.Layer = "zstd" },
	}
	// Every field but Version, which Key sets, is an input.
	typ := reflect.TypeFor[cache.Input]()
	for i := range typ.NumField() {
		name := typ.Field(i).Name
		if _, ok := tests[name]; !ok && name != "Version" {
			t.Errorf("field Input.%s has no case", name)
		}
	}
	base := fullInput()
	want := base.Key()
	seen := map[digest.Digest]string{want: "unchanged"}
	for name, change := range tests {
		in := fullInput()
		change(&in)
		k := in.Key()
		if prev, ok := seen[k]; ok {
			t.Errorf("changing %s gives the key of %s: %s", name, prev, k)
		}
		seen[k] = name
	}
	// Words keep their boundaries.
	a := cache.Input{Op: "RUN", Args: []string{"a b"}}
	b := cache.Input{Op: "RUN", Args: []string{"a", "b"}}
	if a.Key() == b.Key() {
		t.Error(`Args ["a b"] and ["a" "b"] give the same key`)
	}
}

func TestFilesDigest(t *testing.T) {
	files := []cache.File{
		{Path: "src", Mode: uint32(os.ModeDir | 0o755)},
		{Path: "src/a", Mode: 0o644, Digest: digest.FromString("a")},
		{Path: "src/l", Mode: uint32(os.ModeSymlink | 0o777), Link: "a"},
	}
	d := cache.FilesDigest(files)
	if d2 := cache.FilesDigest(slices.Clone(files)); d != d2 {
		t.Fatalf("FilesDigest is not stable: %s, %s", d, d2)
	}
	if d.Validate() != nil {
		t.Errorf("FilesDigest = %q, not a valid digest", d)
	}
	changes := map[string]func([]cache.File){
		"path":    func(f []cache.File) { f[1].Path = "src/b" },
		"mode":    func(f []cache.File) { f[1].Mode = 0o600 },
		"content": func(f []cache.File) { f[1].Digest = digest.FromString("b") },
		"link":    func(f []cache.File) { f[2].Link = "b" },
		"order":   func(f []cache.File) { f[1], f[2] = f[2], f[1] },
	}
	for name, change := range changes {
		f := slices.Clone(files)
		change(f)
		if cache.FilesDigest(f) == d {
			t.Errorf("changing the %s leaves the digest", name)
		}
	}
	if cache.FilesDigest(files[:2]) == d {
		t.Error("removing a file leaves the digest")
	}
}

// TestTrimSteps forgets the last builds of steps not built for a while,
// with their file lists, and keeps the ones Used marks.
func TestTrimSteps(t *testing.T) {
	c, root := open(t)
	entry := &cache.Entry{Text: "COPY . /", Key: digest.FromString("k"), Files: []cache.File{{Path: "a", Digest: digest.FromString("a")}}}
	for _, id := range []string{"old", "used", "new"} {
		if err := c.SetLastBuild(id, entry); err != nil {
			t.Fatal(err)
		}
	}
	longAgo := time.Now().Add(-48 * time.Hour)
	for _, id := range []string{"old", "used"} {
		if err := os.Chtimes(filepath.Join(root, "cache", "steps", id+".json"), longAgo, longAgo); err != nil {
			t.Fatal(err)
		}
	}
	c.Used("used")
	n, err := c.TrimSteps(24 * time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("TrimSteps = %d, %v; want 1 step forgotten", n, err)
	}
	if c.LastBuild("old") != nil || c.LastFiles("old") != nil {
		t.Error("the old step's last build or its files survived")
	}
	for _, id := range []string{"used", "new"} {
		if c.LastBuild(id) == nil || len(c.LastFiles(id)) != 1 {
			t.Errorf("step %s was forgotten", id)
		}
	}
}

// TestKeepWith: records and other sized things compete for one limit, most
// recently used first, and the walk stops at the first that does not fit.
func TestKeepWith(t *testing.T) {
	c, root := open(t)
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	r1, r3 := layerRecord("1", 100), layerRecord("3", 50)
	put(t, c, r1, r3)
	setUsed(t, root, r1.Key, t0)
	setUsed(t, root, r3.Key, t0.Add(-2*time.Hour))
	others := []cache.Sized{
		{Size: 100, LastUsed: t0.Add(-3 * time.Hour)}, // does not fit: 280 > 200
		{Size: 30, LastUsed: t0.Add(-time.Hour)},      // between r1 and r3
		{Size: 1, LastUsed: t0.Add(-4 * time.Hour)},   // would fit, but comes after the one that does not
	}
	blobs, _, kept := c.KeepWith(200, others)
	if got, want := slices.Collect(blobs), []digest.Digest{r1.Layer.Digest, r3.Layer.Digest}; !slices.Equal(got, want) {
		t.Errorf("blobs = %v, want %v", got, want)
	}
	if kept(0) || !kept(1) || kept(2) {
		t.Errorf("kept = %v %v %v, want false true false", kept(0), kept(1), kept(2))
	}
	// Without records, the same walk over the others alone.
	k := cache.KeepSized(130, others)
	if !k(0) || !k(1) || k(2) {
		t.Errorf("KeepSized kept = %v %v %v, want true true false", k(0), k(1), k(2))
	}
}
