package fsutil

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReplaceDir(t *testing.T) {
	boom := errors.New("boom")
	writeMarker := func(content string) func(string) error {
		return func(tmp string) error {
			return os.WriteFile(filepath.Join(tmp, "marker"), []byte(content), 0o644)
		}
	}
	tests := []struct {
		name     string
		existing bool
		fill     func(string) error
		wantErr  error
		want     string // marker content afterwards; "" = dst absent
	}{
		{name: "creates", fill: writeMarker("new"), want: "new"},
		{name: "replaces", existing: true, fill: writeMarker("new"), want: "new"},
		{
			name: "failing fill leaves no dst",
			fill: func(tmp string) error {
				if err := writeMarker("partial")(tmp); err != nil {
					return err
				}
				return boom
			},
			wantErr: boom,
		},
		{
			name:     "failing fill keeps old dst",
			existing: true,
			fill:     func(string) error { return boom },
			wantErr:  boom,
			want:     "old",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			dst := filepath.Join(parent, "out")
			if tc.existing {
				if err := os.Mkdir(dst, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := writeMarker("old")(dst); err != nil {
					t.Fatal(err)
				}
				// Content only the old tree has must disappear.
				if err := os.WriteFile(filepath.Join(dst, "stale"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := ReplaceDir(context.Background(), dst, tc.fill)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			got, readErr := os.ReadFile(filepath.Join(dst, "marker"))
			if tc.want == "" {
				if _, err := os.Lstat(dst); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("dst exists after failed fill (%v)", err)
				}
			} else if readErr != nil || string(got) != tc.want {
				t.Fatalf("marker = %q (%v), want %q", got, readErr, tc.want)
			}
			if err == nil {
				if _, err := os.Lstat(filepath.Join(dst, "stale")); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("old content survived the swap (%v)", err)
				}
				fi, err := os.Stat(dst)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != 0o755 {
					t.Fatalf("mode = %v, want 0755", fi.Mode().Perm())
				}
			}
			assertOnlyEntries(t, parent, tc.want != "", "out")
		})
	}
}

func TestReplaceDirRefusesFile(t *testing.T) {
	parent := t.TempDir()
	dst := filepath.Join(parent, "out")
	if err := os.WriteFile(dst, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	called := false
	err := ReplaceDir(context.Background(), dst, func(string) error { called = true; return nil })
	if !errors.Is(err, ErrNotDir) {
		t.Fatalf("err = %v, want ErrNotDir", err)
	}
	if called {
		t.Fatal("fill ran although dst is a file")
	}
	assertOnlyEntries(t, parent, true, "out")
}

func TestReplaceDirCanceled(t *testing.T) {
	parent := t.TempDir()
	dst := filepath.Join(parent, "out")
	ctx, cancel := context.WithCancel(context.Background())
	err := ReplaceDir(ctx, dst, func(tmp string) error {
		cancel()
		return os.WriteFile(filepath.Join(tmp, "f"), nil, 0o644)
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	assertOnlyEntries(t, parent, false, "")
}

// TestReplaceDirRemovesStaleSiblings: temporary siblings left by a killed
// ReplaceDir (their lock free) are removed by the next ReplaceDir in the
// same directory, whatever destination they were for; live ones and
// anything not named like them stay.
func TestReplaceDirRemovesStaleSiblings(t *testing.T) {
	parent := t.TempDir()
	const hex16 = "0123456789abcdef"
	mk := func(name string, lockFile bool) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(parent, name, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(parent, name, "sub", "f"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if lockFile {
			if err := os.WriteFile(filepath.Join(parent, name+".lock"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	mk(".out.tmp-"+hex16, true)             // killed export to out
	mk(".other.tmp-fedcba9876543210", true) // killed export to other
	mk(".out.tmp-aaaaaaaaaaaaaaaa", true)   // an export still running
	mk(".out.tmp-bbbbbbbbbbbbbbbb", false)  // no lock file: not ours
	mk(".out.tmp-123456789", true)          // another naming scheme
	mk("data", true)                        // a user's files
	mk("data.tmp-"+hex16, true)             // no leading dot
	live, err := LockFile(filepath.Join(parent, ".out.tmp-aaaaaaaaaaaaaaaa.lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Unlock()

	dst := filepath.Join(parent, "out")
	if err := ReplaceDir(context.Background(), dst, func(tmp string) error {
		return os.WriteFile(filepath.Join(tmp, "marker"), []byte("new"), 0o644)
	}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		want bool
	}{
		{".out.tmp-" + hex16, false},
		{".out.tmp-" + hex16 + ".lock", false},
		{".other.tmp-fedcba9876543210", false},
		{".other.tmp-fedcba9876543210.lock", false},
		{".out.tmp-aaaaaaaaaaaaaaaa", true},
		{".out.tmp-aaaaaaaaaaaaaaaa.lock", true},
		{".out.tmp-bbbbbbbbbbbbbbbb", true},
		{".out.tmp-123456789", true},
		{".out.tmp-123456789.lock", true},
		{"data", true},
		{"data.lock", true},
		{"data.tmp-" + hex16, true},
		{"data.tmp-" + hex16 + ".lock", true},
		{"out", true},
	} {
		if _, err := os.Lstat(filepath.Join(parent, tc.name)); (err == nil) != tc.want {
			t.Errorf("%s: exists = %v, want %v (%v)", tc.name, err == nil, tc.want, err)
		}
	}
}

// TestReplaceDirLocksItsSibling: while fill runs, the temporary sibling's
// lock is held, so a concurrent sweep (another export to the same
// directory) leaves it alone; afterwards neither it nor its lock file is
// left.
func TestReplaceDirLocksItsSibling(t *testing.T) {
	for _, existing := range []bool{false, true} {
		parent := t.TempDir()
		dst := filepath.Join(parent, "out")
		if existing {
			if err := os.Mkdir(dst, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		err := ReplaceDir(context.Background(), dst, func(tmp string) error {
			if !IsTempSibling(filepath.Base(tmp)) || filepath.Dir(tmp) != parent {
				t.Errorf("temporary directory %s is not a recognisable sibling of %s", tmp, dst)
			}
			if _, err := TryLock(tmp + ".lock"); !errors.Is(err, ErrLocked) {
				t.Errorf("the temporary directory's lock is not held during fill: %v", err)
			}
			if n, err := RemoveStaleFunc(context.Background(), parent, IsTempSibling); n != 0 || err != nil {
				t.Errorf("a sweep during fill removed %d entries (%v)", n, err)
			}
			return os.WriteFile(filepath.Join(tmp, "marker"), []byte("new"), 0o644)
		})
		if err != nil {
			t.Fatal(err)
		}
		assertOnlyEntries(t, parent, true, "out")
	}
}

func TestIsTempSibling(t *testing.T) {
	for name, want := range map[string]bool{
		".out.tmp-0123456789abcdef":       true,
		".a.b.tmp-0123456789abcdef":       true,
		"..tmp-0123456789abcdef":          false, // no destination name
		"out.tmp-0123456789abcdef":        false,
		".out.tmp-0123456789ABCDEF":       false,
		".out.tmp-0123456789abcde":        false,
		".out.tmp-0123456789abcdef0":      false,
		".out.tmp-0123456789abcdeg":       false,
		".out.tmp-0123456789abcdef.lock":  false,
		".out.old-0123456789abcdef":       false,
		".out.tmp-0123456789abcdef/../..": false,
	} {
		if got := IsTempSibling(name); got != want {
			t.Errorf("IsTempSibling(%q) = %v, want %v", name, got, want)
		}
	}
	// The longest destination names still give a sibling whose lock file
	// name fits in NAME_MAX.
	long := tempSiblingPrefix(strings.Repeat("x", 255)) + "0123456789abcdef.lock"
	if len(long) > 255 || !IsTempSibling(strings.TrimSuffix(long, ".lock")) {
		t.Errorf("sibling of a 255-byte name: %d bytes, recognised %v", len(long), IsTempSibling(strings.TrimSuffix(long, ".lock")))
	}
}
