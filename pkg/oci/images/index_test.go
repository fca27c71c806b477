package images

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/pkg/oci"
)

func TestTagLookupUntag(t *testing.T) {
	ctx := context.Background()
	st := newState(t)
	a := newImage(t, st.store, "a")
	b := newImage(t, st.store, "b")
	for name, desc := range map[string]ocispec.Descriptor{
		"app:1":               a,
		"app":                 b,
		"ghcr.io/org/tool:v2": b,
	} {
		if err := st.index.Tag(ctx, name, desc); err != nil {
			t.Fatalf("Tag(%s): %v", name, err)
		}
	}

	lookups := []struct {
		ref     string
		want    digest.Digest
		wantErr error
	}{
		{ref: "app:1", want: a.Digest},
		{ref: "docker.io/library/app:1", want: a.Digest},
		{ref: "app", want: b.Digest},
		{ref: "ghcr.io/org/tool:v2", want: b.Digest},
		{ref: a.Digest.String(), want: a.Digest},
		{ref: a.Digest.Encoded()[:12], want: a.Digest},
		{ref: "sha256:" + b.Digest.Encoded()[:8], want: b.Digest},
		{ref: "app@" + a.Digest.String(), want: a.Digest},
		{ref: "app:2", wantErr: ErrNotFound},
		{ref: "tool:v2", wantErr: ErrNotFound},
	}
	for _, tc := range lookups {
		t.Run("lookup "+tc.ref, func(t *testing.T) {
			got, err := st.index.Lookup(ctx, tc.ref)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Lookup(%q) = %s, %v; want %v", tc.ref, got.Digest, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Digest != tc.want || got.Size <= 0 || got.MediaType != ocispec.MediaTypeImageManifest {
				t.Errorf("Lookup(%q) = %+v, want digest %s", tc.ref, got, tc.want)
			}
		})
	}

	// Retagging moves the name.
	if err := st.index.Tag(ctx, "app:1", b); err != nil {
		t.Fatal(err)
	}
	if got, err := st.index.Lookup(ctx, "app:1"); err != nil || got.Digest != b.Digest {
		t.Fatalf("after retag: Lookup(app:1) = %s, %v; want %s", got.Digest, err, b.Digest)
	}
	// a is no longer named, so its digest does not resolve either.
	if _, err := st.index.Lookup(ctx, a.Digest.String()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("untagged digest: err = %v, want ErrNotFound", err)
	}

	if err := st.index.Untag(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.index.Lookup(ctx, "app"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after Untag: err = %v, want ErrNotFound", err)
	}
	if got, err := st.index.Lookup(ctx, "ghcr.io/org/tool:v2"); err != nil || got.Digest != b.Digest {
		t.Fatalf("other name of the untagged image: %s, %v", got.Digest, err)
	}
	if !st.store.Has(b.Digest) {
		t.Fatal("Untag removed the manifest blob")
	}
	if err := st.index.Untag(ctx, "app"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Untag: err = %v, want ErrNotFound", err)
	}
}

func TestTagRejects(t *testing.T) {
	ctx := context.Background()
	st := newState(t)
	good := newImage(t, st.store, "x")
	layer := putLayer(t, st.store, "l")
	index := putIndex(t, st.store, good)
	withSize := func(d ocispec.Descriptor, n int64) ocispec.Descriptor { d.Size = n; return d }
	withType := func(d ocispec.Descriptor, mt string) ocispec.Descriptor { d.MediaType = mt; return d }
	absent := good
	absent.Digest = digest.FromString("absent")

	tests := []struct {
		name    string
		ref     string
		desc    ocispec.Descriptor
		wantErr error
	}{
		{"uppercase name", "App:1", good, oci.ErrInvalid},
		{"name with digest", "app@" + good.Digest.String(), good, oci.ErrInvalid},
		{"empty name", "", good, oci.ErrInvalid},
		{"layer media type", "app", withType(layer.desc, ocispec.MediaTypeImageLayer), oci.ErrInvalid},
		{"manifest typed as index", "app", withType(good, ocispec.MediaTypeImageIndex), oci.ErrInvalid},
		{"missing blob", "app", absent, ErrNotFound},
		{"wrong size", "app", withSize(good, good.Size+1), nil},
		{"zero size", "app", withSize(good, 0), oci.ErrInvalid},
		{"bad digest", "app", ocispec.Descriptor{MediaType: good.MediaType, Digest: "sha256:../../x", Size: 1}, oci.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := st.index.Tag(ctx, tc.ref, tc.desc)
			if err == nil {
				t.Fatal("Tag succeeded")
			}
			var mismatch *oci.DigestMismatchError
			if tc.wantErr == nil && !errors.As(err, &mismatch) {
				t.Fatalf("err = %v, want a DigestMismatchError", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
	if l, err := st.index.List(ctx); err != nil || len(l) != 0 {
		t.Fatalf("rejected tags left entries: %v, %v", l, err)
	}
	if err := st.index.Tag(ctx, "multi", index); err != nil {
		t.Fatalf("tagging an index: %v", err)
	}
}

func TestList(t *testing.T) {
	ctx := context.Background()
	st := newState(t)
	l1, l2 := putLayer(t, st.store, "one"), putLayer(t, st.store, "two")
	created := time.Date(2023, 5, 6, 7, 8, 9, 0, time.UTC)
	m, _ := putImage(t, st.store, created, l1, l2)
	cfg := manifestOf(t, st.store, m).Config
	broken := newImage(t, st.store, "broken")
	removeBlob(t, st.store, manifestOf(t, st.store, broken).Config.Digest)
	later := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	other, _ := putImage(t, st.store, later, l2)
	// An index of which one platform's manifest was never fetched.
	idx := putIndex(t, st.store, m, other, fakeDesc("dead"))

	for name, d := range map[string]ocispec.Descriptor{"zz:1": m, "app:1": m, "broken": broken, "multi": idx} {
		if err := st.index.Tag(ctx, name, d); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.index.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(got))
	for i, e := range got {
		names[i] = e.Name
	}
	want := []string{"docker.io/library/app:1", "docker.io/library/broken:latest", "docker.io/library/multi:latest", "docker.io/library/zz:1"}
	if !slices.Equal(names, want) {
		t.Fatalf("names = %q, want %q", names, want)
	}
	otherCfg := manifestOf(t, st.store, other).Config
	tests := []struct {
		i       int
		size    int64
		created time.Time
		bad     bool
	}{
		{0, cfg.Size + l1.desc.Size + l2.desc.Size, created, false},
		{1, 0, time.Time{}, true},
		// l2 is shared by both images of the index and counted once.
		{2, cfg.Size + otherCfg.Size + l1.desc.Size + l2.desc.Size, later, false},
		{3, cfg.Size + l1.desc.Size + l2.desc.Size, created, false},
	}
	for _, tc := range tests {
		t.Run(want[tc.i], func(t *testing.T) {
			e := got[tc.i]
			if (e.Err != nil) != tc.bad {
				t.Fatalf("Err = %v, want error %v", e.Err, tc.bad)
			}
			if tc.bad && !errors.Is(e.Err, ErrNotFound) {
				t.Errorf("Err = %v, want ErrNotFound", e.Err)
			}
			if e.Size != tc.size || !e.Created.Equal(tc.created) {
				t.Errorf("Size, Created = %d, %v; want %d, %v", e.Size, e.Created, tc.size, tc.created)
			}
			if e.Manifest.Digest == "" {
				t.Error("no manifest descriptor")
			}
		})
	}
}

// TestTagConcurrentGoroutines checks that no update is lost when many
// goroutines tag at once, each with its own Index value.
func TestTagConcurrentGoroutines(t *testing.T) {
	ctx := context.Background()
	st := newState(t)
	m := newImage(t, st.store, "c")
	const workers, perWorker = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			x, err := openIndex(ctx, st.root)
			if err != nil {
				errs <- err
				return
			}
			for i := range perWorker {
				if err := x.Tag(ctx, fmt.Sprintf("w%d:%d", w, i), m); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	checkCount(t, st.index, workers*perWorker)
}

// TestTagConcurrentProcesses does the same across processes, which share
// nothing but the state directory.
func TestTagConcurrentProcesses(t *testing.T) {
	st := newState(t)
	m := newImage(t, st.store, "p")
	const procs, perProc = 4, 15
	var wg sync.WaitGroup
	errs := make(chan error, procs)
	for p := range procs {
		cmd := helper(t, "tag", st.root, m.Digest.String(), strconv.FormatInt(m.Size, 10), fmt.Sprintf("proc%d", p), strconv.Itoa(perProc))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			if err := cmd.Wait(); err != nil {
				errs <- fmt.Errorf("helper %d: %w", p, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	checkCount(t, st.index, procs*perProc)
}

func checkCount(t *testing.T, x *Index, want int) {
	t.Helper()
	got, err := x.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != want {
		t.Fatalf("index holds %d images, want %d (updates were lost)", len(got), want)
	}
}

func TestOpenRejectsNoState(t *testing.T) {
	if _, err := Open(nil); err == nil {
		t.Fatal("Open accepted a nil state directory")
	}
}

func TestIndexFileHostile(t *testing.T) {
	good := fakeDesc("ab")
	tests := []struct {
		name string
		data string
	}{
		{"not json", "{"},
		{"wrong version", `{"schemaVersion":2,"images":{}}`},
		{"no version", `{"images":{}}`},
		{"short name", `{"schemaVersion":1,"images":{"app":` + descJSON(good) + `}}`},
		{"name with digest", `{"schemaVersion":1,"images":{"docker.io/library/app@` + good.Digest.String() + `":` + descJSON(good) + `}}`},
		{"path digest", `{"schemaVersion":1,"images":{"docker.io/library/app:1":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../../etc","size":3}}}`},
		{"layer type", `{"schemaVersion":1,"images":{"docker.io/library/app:1":{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"` + good.Digest.String() + `","size":3}}}`},
		{"negative size", `{"schemaVersion":1,"images":{"docker.io/library/app:1":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + good.Digest.String() + `","size":-3}}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := newState(t)
			if err := os.WriteFile(filepath.Join(st.root, "images.json"), []byte(tc.data), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := st.index.Lookup(context.Background(), "app:1"); !errors.Is(err, oci.ErrInvalid) {
				t.Errorf("Lookup: err = %v, want ErrInvalid", err)
			}
			if _, err := st.index.List(context.Background()); !errors.Is(err, oci.ErrInvalid) {
				t.Errorf("List: err = %v, want ErrInvalid", err)
			}
			if err := st.index.Tag(context.Background(), "app:2", newImage(t, st.store, "h")); !errors.Is(err, oci.ErrInvalid) {
				t.Errorf("Tag: err = %v, want ErrInvalid (and no overwrite of the damaged file)", err)
			}
		})
	}
}

func descJSON(d ocispec.Descriptor) string {
	return fmt.Sprintf(`{"mediaType":%q,"digest":%q,"size":%d}`, d.MediaType, d.Digest, d.Size)
}
