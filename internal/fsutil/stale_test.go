package fsutil

import (
	"context"
	"os"
	"path/filepath"
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
