package images

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/internal/fsutil"
	"github.com/ocibuilder/builder/pkg/oci"
	"github.com/ocibuilder/builder/pkg/statedir"
)

// mkLayerDir creates <root>/layers/<name> with a few files and returns the
// bytes Prune should report for it.
func mkLayerDir(t *testing.T, root, name string) int64 {
	t.Helper()
	dir := filepath.Join(root, "layers", name)
	if err := os.MkdirAll(filepath.Join(dir, "ro"), 0o755); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 1000)
	if err := os.WriteFile(filepath.Join(dir, "big"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	// A hard link shares the space of big; it must be counted once.
	if err := os.Link(filepath.Join(dir, "big"), filepath.Join(dir, "big2")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ro", "f"), []byte("abc"), 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "ro"), 0o500); err != nil {
		t.Fatal(err)
	}
	return 1003
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	st := newState(t)
	root, s := st.root, st.store
	shared, la, lc := putLayer(t, s, "shared"), putLayer(t, s, "a"), putLayer(t, s, "c")
	ld, lf := putLayer(t, s, "d"), putLayer(t, s, "f")
	a, _ := putImage(t, s, testCreated(), shared, la)
	b, _ := putImage(t, s, testCreated(), shared)
	c, _ := putImage(t, s, testCreated(), shared, lc)
	d, _ := putImage(t, s, testCreated(), ld)
	f, _ := putImage(t, s, testCreated(), lf)
	e := putIndex(t, s, f, fakeDesc("dead")) // a platform never fetched
	tags := []struct {
		name string
		desc ocispec.Descriptor
	}{{"a", a}, {"b", b}, {"b2", b}, {"c", c}, {"multi", e}}
	for _, tg := range tags {
		if err := st.index.Tag(ctx, tg.name, tg.desc); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.index.Untag(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	garbage, err := s.Put(ctx, "application/octet-stream", []byte("garbage"))
	if err != nil {
		t.Fatal(err)
	}
	kept, err := s.Put(ctx, "application/octet-stream", []byte("kept by the caller"))
	if err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(root, "blobs", "sha256", "README")
	if err := os.WriteFile(foreign, []byte("not a blob"), 0o644); err != nil {
		t.Fatal(err)
	}

	cm := manifestOf(t, s, c)
	removedBlobs := []ocispec.Descriptor{c, cm.Config, lc.desc, garbage}
	var wantBytes int64
	for _, r := range removedBlobs {
		wantBytes += r.Size
	}

	extraDiffID := digest.FromString("kept layer dir")
	strayDiffID := digest.FromString("stray layer dir")
	layerDirs := []struct {
		name string
		keep bool
	}{
		{shared.diffID.Encoded(), true},
		{la.diffID.Encoded(), true},
		{ld.diffID.Encoded(), true}, // via KeepImages
		{lf.diffID.Encoded(), true}, // via the index
		{extraDiffID.Encoded(), true},
		{lc.diffID.Encoded(), false},
		{strayDiffID.Encoded(), false},
		{"chain-" + digest.FromString("chain").Encoded(), false},
		{"notes", true}, // not ours to judge
	}
	for _, ld := range layerDirs {
		n := mkLayerDir(t, root, ld.name)
		if !ld.keep {
			wantBytes += n
		}
	}

	tmp := filepath.Join(root, "tmp")
	for _, p := range []string{"build-dead", "build-live", "prune-leftover"} {
		mkLayerDir(t, root, "../tmp/"+p)
	}
	for _, p := range []string{"build-dead.lock", "build-live.lock", "ingest-old", "ingest-new"} {
		if err := os.WriteFile(filepath.Join(tmp, p), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * staleIngestAge)
	if err := os.Chtimes(filepath.Join(tmp, "ingest-old"), old, old); err != nil {
		t.Fatal(err)
	}
	live, err := fsutil.LockFile(filepath.Join(tmp, "build-live.lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Unlock()

	opts := PruneOptions{
		KeepImages:    slices.Values([]ocispec.Descriptor{d, fakeDesc("90e")}),
		KeepBlobs:     slices.Values([]digest.Digest{kept.Digest}),
		KeepLayerDirs: slices.Values([]digest.Digest{extraDiffID}),
	}
	rep, err := pruneRoot(ctx, root, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := PruneReport{Blobs: len(removedBlobs), LayerDirs: 3, TempEntries: 3, Bytes: wantBytes}
	if rep != want {
		t.Errorf("report = %+v, want %+v", rep, want)
	}

	for _, img := range []ocispec.Descriptor{a, b, d, f} {
		loaded, err := Load(ctx, s, img)
		if err != nil {
			t.Fatalf("kept image %s: %v", img.Digest, err)
		}
		if err := oci.Validate(ctx, loaded); err != nil {
			t.Fatalf("kept image %s: %v", img.Digest, err)
		}
	}
	for _, blob := range []digest.Digest{e.Digest, kept.Digest} {
		if !s.Has(blob) {
			t.Errorf("kept blob %s was removed", blob)
		}
	}
	for _, r := range removedBlobs {
		if s.Has(r.Digest) {
			t.Errorf("unreferenced blob %s is still there", r.Digest)
		}
	}
	if !exists(foreign) {
		t.Error("a file that is not a blob was removed")
	}
	for _, ld := range layerDirs {
		if got := exists(filepath.Join(root, "layers", ld.name)); got != ld.keep {
			t.Errorf("layer dir %s: exists = %v, want %v", ld.name, got, ld.keep)
		}
	}
	tmpWant := map[string]bool{
		"build-dead": false, "build-dead.lock": false, "prune-leftover": false, "ingest-old": false,
		"build-live": true, "build-live.lock": true, "ingest-new": true,
	}
	for name, keep := range tmpWant {
		if got := exists(filepath.Join(tmp, name)); got != keep {
			t.Errorf("tmp/%s: exists = %v, want %v", name, got, keep)
		}
	}
	if ents, _ := filepath.Glob(filepath.Join(tmp, prunePrefix+"*")); len(ents) != 0 {
		t.Errorf("prune left %v behind", ents)
	}
	if l, err := st.index.List(ctx); err != nil || len(l) != 4 {
		t.Errorf("index after prune: %d entries, %v", len(l), err)
	}

	// Nothing is left to remove without the extra roots but what they kept.
	rep, err = pruneRoot(ctx, root, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep != (PruneReport{}) {
		t.Errorf("second prune removed %+v", rep)
	}
	rep, err = pruneRoot(ctx, root, PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// d's manifest, config and layer and the kept blob; the layer
	// directories of d's layer and of the extra diff ID.
	if rep.Blobs != 4 || rep.LayerDirs != 2 {
		t.Errorf("prune without extra roots: %+v", rep)
	}
}

func TestPruneRefuses(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		setup   func(t *testing.T, st testState) PruneOptions
		wantErr error
	}{
		{"tagged image without config", func(t *testing.T, st testState) PruneOptions {
			m := newImage(t, st.store, "broken")
			if err := st.index.Tag(ctx, "broken", m); err != nil {
				t.Fatal(err)
			}
			removeBlob(t, st.store, manifestOf(t, st.store, m).Config.Digest)
			return PruneOptions{}
		}, ErrNotFound},
		{"tagged image without manifest", func(t *testing.T, st testState) PruneOptions {
			m := newImage(t, st.store, "broken")
			if err := st.index.Tag(ctx, "broken", m); err != nil {
				t.Fatal(err)
			}
			removeBlob(t, st.store, m.Digest)
			return PruneOptions{}
		}, ErrNotFound},
		{"kept image that is a layer", func(t *testing.T, st testState) PruneOptions {
			return PruneOptions{KeepImages: slices.Values([]ocispec.Descriptor{putLayer(t, st.store, "l").desc})}
		}, oci.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := newState(t)
			garbage, err := st.store.Put(ctx, "application/octet-stream", []byte("garbage"))
			if err != nil {
				t.Fatal(err)
			}
			opts := tc.setup(t, st)
			if _, err := pruneRoot(ctx, st.root, opts); !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if !st.store.Has(garbage.Digest) {
				t.Error("a failed prune removed blobs")
			}
		})
	}
}

// TestPruneWaitsForSharedLock checks that Prune does not start while a
// build holds the shared lock. The event log, not the timer, is what the
// test asserts: without the lock Prune marks before the holder releases.
func TestPruneWaitsForSharedLock(t *testing.T) {
	ctx := context.Background()
	st := newState(t)
	garbage, err := st.store.Put(ctx, "application/octet-stream", []byte("garbage"))
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := lockState(ctx, st.root, statedir.Shared)
	if err != nil {
		t.Fatal(err)
	}
	// A second build may hold it at the same time.
	bounded, cancel := context.WithTimeout(ctx, 5*time.Second)
	unlock2, err := lockState(bounded, st.root, statedir.Shared)
	cancel()
	if err != nil {
		t.Fatalf("second shared holder: %v", err)
	}
	if err := unlock2(); err != nil {
		t.Fatal(err)
	}

	events := make(chan string, 2)
	marked := make(chan struct{})
	opts := PruneOptions{KeepBlobs: func(func(digest.Digest) bool) {
		events <- "prune marks"
		close(marked)
	}}
	done := make(chan error, 1)
	go func() {
		_, err := pruneRoot(ctx, st.root, opts)
		done <- err
	}()
	// Give a prune that does not wait every chance to run ahead.
	select {
	case <-marked:
	case <-time.After(300 * time.Millisecond):
	}
	events <- "build releases"
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Prune did not finish after the shared lock was released")
	}
	close(events)
	var order []string
	for e := range events {
		order = append(order, e)
	}
	if want := []string{"build releases", "prune marks"}; !slices.Equal(order, want) {
		t.Fatalf("order = %q, want %q", order, want)
	}
	if st.store.Has(garbage.Digest) {
		t.Error("Prune did not remove the unreferenced blob")
	}
}

// TestBuildWaitsForPrune checks the other direction: LockShared waits for
// an exclusive holder.
func TestBuildWaitsForPrune(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	unlock, err := lockState(ctx, root, statedir.Exclusive)
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan string, 2)
	got := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		u, err := lockState(ctx, root, statedir.Shared)
		if err == nil {
			events <- "build locks"
			close(got)
			err = u()
		}
		done <- err
	}()
	select {
	case <-got:
	case <-time.After(300 * time.Millisecond):
	}
	events <- "prune releases"
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	close(events)
	var order []string
	for e := range events {
		order = append(order, e)
	}
	if want := []string{"prune releases", "build locks"}; !slices.Equal(order, want) {
		t.Fatalf("order = %q, want %q", order, want)
	}
}

// TestPruneAfterCrashedHolder kills a process holding the shared lock and
// checks that its lock does not outlive it.
func TestPruneAfterCrashedHolder(t *testing.T) {
	ctx := context.Background()
	st := newState(t)
	garbage, err := st.store.Put(ctx, "application/octet-stream", []byte("garbage"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := helper(t, "hold-shared", st.root)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	// The helper really holds the lock: an exclusive lock cannot be had.
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err = lockState(short, st.root, statedir.Exclusive)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("exclusive lock while the helper holds the shared one: err = %v", err)
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed = true
	if err := cmd.Wait(); err == nil {
		t.Fatal("helper exited cleanly; it should have been killed")
	}
	bounded, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rep, err := pruneRoot(bounded, st.root, PruneOptions{})
	if err != nil {
		t.Fatalf("prune after the holder died: %v", err)
	}
	if rep.Blobs != 1 || st.store.Has(garbage.Digest) {
		t.Errorf("report %+v; garbage still present: %v", rep, st.store.Has(garbage.Digest))
	}
}
