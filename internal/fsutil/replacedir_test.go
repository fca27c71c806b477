package fsutil

import (
	"context"
	"errors"
	"os"
	"path/filepath"
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
