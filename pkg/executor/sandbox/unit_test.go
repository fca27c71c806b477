package sandbox

import (
	"bytes"
	"encoding/gob"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	sbin := filepath.Join(dir, "sbin")
	writeFile(t, filepath.Join(bin, "tool"), "#!/bin/sh\n", 0o755)
	writeFile(t, filepath.Join(bin, "data"), "", 0o644)
	writeFile(t, filepath.Join(sbin, "data"), "#!/bin/sh\n", 0o700)
	mkdirs(t, sbin, "adir")
	tests := []struct {
		name    string
		file    string
		env     []string
		want    string
		wantErr bool
	}{
		{name: "found", file: "tool", env: []string{"PATH=" + bin}, want: filepath.Join(bin, "tool")},
		{name: "non-executable skipped", file: "data", env: []string{"PATH=" + bin + ":" + sbin}, want: filepath.Join(sbin, "data")},
		{name: "directory skipped", file: "adir", env: []string{"PATH=" + sbin}, wantErr: true},
		{name: "last PATH wins", file: "tool", env: []string{"PATH=" + bin, "PATH=" + sbin}, wantErr: true},
		{name: "relative entries ignored", file: "tool", env: []string{"PATH=.:bin"}, wantErr: true},
		{name: "slash used as is", file: "./x/y", env: nil, want: "./x/y"},
		{name: "missing", file: "nope", env: []string{"PATH=" + bin}, wantErr: true},
		{name: "empty PATH", file: "tool", env: []string{"PATH="}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := lookPath(tt.file, tt.env)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("lookPath(%q) = %q, %v; want %q (error %v)", tt.file, got, err, tt.want, tt.wantErr)
			}
		})
	}
	if got := envPath([]string{"HOME=/"}); got != defaultPath {
		t.Errorf("PATH without one in env = %q, want Docker's default", got)
	}
}

func TestAvailable(t *testing.T) {
	err := Available()
	if os.Geteuid() != 0 {
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("Available as non-root = %v, want ErrUnavailable", err)
		}
		return
	}
	if err != nil {
		t.Errorf("Available as root: %v", err)
	}
	if err := OverlayAvailable(); err != nil {
		t.Errorf("OverlayAvailable: %v", err)
	}
}

func TestHasFilesystem(t *testing.T) {
	p := filepath.Join(t.TempDir(), "filesystems")
	writeFile(t, p, "nodev\tsysfs\nnodev\toverlayish\n\text4\nnodev\n", 0o644)
	tests := []struct {
		fstype string
		want   bool
	}{
		{"ext4", true},
		{"sysfs", true},
		{"overlay", false},
		{"nodev", true}, // a bare "nodev" line names a filesystem called nodev
	}
	for _, tt := range tests {
		t.Run(tt.fstype, func(t *testing.T) {
			got, err := hasFilesystem(p, tt.fstype)
			if err != nil || got != tt.want {
				t.Errorf("hasFilesystem(%q) = %v, %v; want %v", tt.fstype, got, err, tt.want)
			}
		})
	}
	if _, err := hasFilesystem(filepath.Join(t.TempDir(), "missing"), "ext4"); err == nil {
		t.Error("no error for a missing file")
	}
}

func TestReadReports(t *testing.T) {
	encode := func(reps ...report) []byte {
		var b bytes.Buffer
		enc := gob.NewEncoder(&b)
		for _, r := range reps {
			if err := enc.Encode(&r); err != nil {
				t.Fatal(err)
			}
		}
		return b.Bytes()
	}
	tests := []struct {
		name    string
		data    []byte
		want    childOutcome
		wantErr bool
	}{
		{name: "child died silently", data: nil},
		{name: "ready", data: encode(report{Stubs: []string{"proc"}, Ready: true}),
			want: childOutcome{stubs: []string{"proc"}, ready: true}},
		{name: "exec failed after ready", data: encode(report{Ready: true, Stubs: []string{"a"}}, report{Stubs: []string{"a"}, Err: "executing x: nope", Exec: true}),
			want: childOutcome{stubs: []string{"a"}, ready: true, err: &SetupError{Msg: "executing x: nope", Exec: true}}},
		{name: "truncated", data: encode(report{Ready: true})[:5], wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readReports(bytes.NewReader(tt.data))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if got.ready != tt.want.ready || !slices.Equal(got.stubs, tt.want.stubs) ||
				(got.err == nil) != (tt.want.err == nil) || (got.err != nil && *got.err != *tt.want.err) {
				t.Errorf("got %+v (err %v), want %+v (err %v)", got, got.err, tt.want, tt.want.err)
			}
		})
	}
}

// FuzzReadReports feeds arbitrary bytes as the child's report stream: the
// parent must neither panic nor claim readiness it was not told.
func FuzzReadReports(f *testing.F) {
	var b bytes.Buffer
	enc := gob.NewEncoder(&b)
	_ = enc.Encode(&report{Stubs: []string{"proc", "etc/hosts"}, Ready: true})
	_ = enc.Encode(&report{Err: "executing sh: exec format error", Exec: true})
	f.Add(b.Bytes())
	f.Add([]byte{})
	f.Add([]byte{0xff, 0x00, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := readReports(bytes.NewReader(data))
		if err == nil && len(data) == 0 && (out.ready || out.err != nil) {
			t.Fatalf("empty stream read as %+v", out)
		}
	})
}
