package fsutil

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name     string
		existing string // "" = no existing file
		write    func(w io.Writer) error
		wantErr  error
		want     string
	}{
		{name: "new file", write: writeString("hello"), want: "hello"},
		{name: "replaces", existing: "old", write: writeString("new"), want: "new"},
		{
			name:     "failing write keeps old",
			existing: "old",
			write: func(w io.Writer) error {
				if _, err := io.WriteString(w, "partial"); err != nil {
					return err
				}
				return boom
			},
			wantErr: boom,
			want:    "old",
		},
		{name: "failing write leaves nothing", write: func(io.Writer) error { return boom }, wantErr: boom},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "f.json")
			if tc.existing != "" {
				if err := os.WriteFile(p, []byte(tc.existing), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			err := WriteFileAtomic(p, 0o640, tc.write)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			got, readErr := os.ReadFile(p)
			switch {
			case tc.want == "" && !errors.Is(readErr, os.ErrNotExist):
				t.Fatalf("destination exists after failed write: %q %v", got, readErr)
			case tc.want != "" && string(got) != tc.want:
				t.Fatalf("content = %q, want %q", got, tc.want)
			}
			if err == nil {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != 0o640 {
					t.Fatalf("mode = %v, want 0640", fi.Mode().Perm())
				}
			}
			assertOnlyEntries(t, dir, tc.want != "", "f.json")
		})
	}
}

func TestWriteFileAtomicRefusesDirectory(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "d")
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(p, 0o644, writeString("x")); err == nil {
		t.Fatal("replacing a directory with a file succeeded")
	}
	assertOnlyEntries(t, dir, true, "d")
}

func writeString(s string) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	}
}

// assertOnlyEntries fails unless dir holds exactly name (when present is
// true) or nothing at all: no temporary siblings may survive.
func assertOnlyEntries(t *testing.T, dir string, present bool, name string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if present && (len(names) != 1 || names[0] != name) {
		t.Fatalf("directory holds %v, want only %s", names, name)
	}
	if !present && len(names) != 0 {
		t.Fatalf("directory holds %v, want nothing", names)
	}
}
