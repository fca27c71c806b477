package layer

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/ulikunitz/xz"

	"github.com/ocibuilder/builder/internal/tartest"
)

// xzBytes compresses data with xz.
func xzBytes(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := xz.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecompress(t *testing.T) {
	tarData := tartest.Build(t, tartest.File("hello.txt", "hello\n"))
	tests := []struct {
		name string
		data []byte
	}{
		{"gzip", encodeBytes(t, Gzip, tarData).blob},
		{"zstd", encodeBytes(t, Zstd, tarData).blob},
		{"xz", xzBytes(t, tarData)},
		{"uncompressed", tarData},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc, format, err := Decompress(bytes.NewReader(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			if err := rc.Close(); err != nil {
				t.Fatal(err)
			}
			if format != tc.name {
				t.Errorf("format %q, want %q", format, tc.name)
			}
			if !bytes.Equal(got, tarData) {
				t.Errorf("decompressed %d bytes, want the %d-byte tar", len(got), len(tarData))
			}
		})
	}
	t.Run("short input", func(t *testing.T) {
		rc, format, err := Decompress(bytes.NewReader([]byte{0x1f}))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		if format != "uncompressed" || !bytes.Equal(got, []byte{0x1f}) {
			t.Errorf("format %q data %x", format, got)
		}
	})
}

func TestApplyCompressedFormats(t *testing.T) {
	requireRoot(t)
	tarData := tartest.Build(t, tartest.File("hello.txt", "hello from xz\n"))
	bz, err := os.ReadFile("testdata/hello.tar.bz2") // written by Python's tarfile and bz2
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		data    []byte
		content string
		tarSize int64
	}{
		{"xz", xzBytes(t, tarData), "hello from xz\n", int64(len(tarData))},
		{"bzip2", bz, "hello from bzip2\n", 10240},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			n, err := Apply(context.Background(), root, bytes.NewReader(tc.data), ApplyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if n != tc.tarSize {
				t.Errorf("read %d tar bytes, want %d", n, tc.tarSize)
			}
			wantContent("hello.txt", tc.content)(t, root)
			if _, err := os.Stat(filepath.Join(root, "hello.txt")); err != nil {
				t.Error(err)
			}
		})
	}
}
