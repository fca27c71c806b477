package fsutil

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	mk := func(name string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, name, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "sub", "f"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".lock"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mk("build-dead")
	mk("build-live")
	mk("other-dead") // a different prefix is someone else's business
	if err := os.WriteFile(filepath.Join(dir, "ingest-1"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	live, err := LockFile(filepath.Join(dir, "build-live.lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Unlock()

	n, err := RemoveStale(context.Background(), dir, "build-")
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("removed %d entries, want 1", n)
	}
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"build-dead", false},
		{"build-dead.lock", false},
		{"build-live", true},
		{"build-live.lock", true},
		{"other-dead", true},
		{"other-dead.lock", true},
		{"ingest-1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := os.Lstat(filepath.Join(dir, tc.name))
			if got := err == nil; got != tc.want {
				t.Errorf("exists = %v, want %v (err %v)", got, tc.want, err)
			}
		})
	}

	if n, err := RemoveStale(context.Background(), filepath.Join(dir, "missing"), "build-"); n != 0 || err != nil {
		t.Errorf("missing directory: %d, %v; want 0, nil", n, err)
	}
}

// TestReserveScratch: a reserved name is protected from sweeps until it is
// released; released with its entry gone, nothing is left; released with
// the entry still there (its removal failed), the lock file stays so a
// sweep removes both.
func TestReserveScratch(t *testing.T) {
	dir := t.TempDir()
	match := func(name string) bool { return strings.HasPrefix(name, "x-") }
	sc, err := ReserveScratch(dir, "x-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(sc.Path, 0o755); err != nil {
		t.Fatal(err)
	}
	if n, err := RemoveStaleFunc(context.Background(), dir, match); n != 0 || err != nil {
		t.Fatalf("sweep of a reserved entry: removed %d (%v)", n, err)
	}
	if err := sc.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(sc.Path + ".lock"); err != nil {
		t.Fatalf("lock file of an entry still present was removed: %v", err)
	}
	if n, err := RemoveStaleFunc(context.Background(), dir, match); n != 1 || err != nil {
		t.Fatalf("sweep after release: removed %d (%v), want 1", n, err)
	}

	sc, err = ReserveScratch(dir, "x-")
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Release(); err != nil {
		t.Fatal(err)
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
		t.Fatalf("directory after releasing an unused reservation: %v (%v)", ents, err)
	}
}

// TestRemoveStaleSkipsNonRegularLocks: a "lock file" that is a symlink or
// directory is never opened or followed.
func TestRemoveStaleSkipsNonRegularLocks(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(outside, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "build-a"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "build-a.lock")); err != nil {
		t.Fatal(err)
	}
	if n, err := RemoveStale(context.Background(), dir, "build-"); n != 0 || err != nil {
		t.Fatalf("removed %d (%v), want 0", n, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "build-a")); err != nil {
		t.Fatal("entry with a symlinked lock file was removed")
	}
}
