package statedir

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

func TestPaths(t *testing.T) {
	root := t.TempDir()
	st, err := Open(context.Background(), root, Shared)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.Root() != root || st.Store().Root() != root {
		t.Errorf("root %s, store root %s, want %s", st.Root(), st.Store().Root(), root)
	}
	d := digest.FromString("x")
	for got, want := range map[string]string{
		st.BlobDir():        "blobs/sha256",
		st.Store().Path(d):  "blobs/sha256/" + d.Encoded(),
		st.LayerDir(d):      "layers/" + d.Encoded(),
		st.ChainDir(d):      "layers/chain-" + d.Encoded(),
		st.CacheDir():       "cache",
		st.FileStatsPath():  "cache/files.stat",
		st.ImagesPath():     "images.json",
		st.ImagesLockPath(): "images.lock",
		st.LockPath():       "state.lock",
		st.TmpDir():         "tmp",
	} {
		if want = filepath.Join(root, want); got != want {
			t.Errorf("path %s, want %s", got, want)
		}
	}
}

func TestExclusiveWaitsForShared(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	shared, err := Open(ctx, root, Shared)
	if err != nil {
		t.Fatal(err)
	}
	other, err := Open(ctx, root, Shared)
	if err != nil {
		t.Fatalf("second shared holder: %v", err)
	}
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err = Open(short, root, Exclusive)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("exclusive open while shared is held: err = %v", err)
	}
	if err := shared.Close(); err != nil {
		t.Fatal(err)
	}
	ex, err := Open(ctx, root, Exclusive)
	if err != nil {
		t.Fatalf("exclusive open after shared closed: %v", err)
	}
	if ex.Mode() != Exclusive {
		t.Errorf("mode %v", ex.Mode())
	}
	if err := ex.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestScratch(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, t.TempDir(), Shared)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// What a killed build leaves: a scratch directory and an unlocked
	// lock file.
	dead := filepath.Join(st.TmpDir(), BuildPrefix+"dead")
	if err := os.MkdirAll(dead, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dead+".lock", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	sc, err := st.NewScratch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dead build's scratch space still there: %v", err)
	}
	if !strings.HasPrefix(sc.Path, filepath.Join(st.TmpDir(), BuildPrefix)) {
		t.Errorf("scratch at %s", sc.Path)
	}
	if fi, err := os.Stat(sc.Path); err != nil || !fi.IsDir() {
		t.Fatalf("scratch directory: %v", err)
	}
	if _, err := os.Stat(st.LayersDir()); err != nil {
		t.Errorf("layers directory: %v", err)
	}
	if err := sc.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{sc.Path, sc.Path + ".lock"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left after Close: %v", p, err)
		}
	}
}
