package layer

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/ocibuilder/builder/internal/tartest"
)

// zeroBomb is a gzip tar holding one file of size zero bytes: a few
// hundred kilobytes that expand to size.
func zeroBomb(t *testing.T, name string, size int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: size}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(tw, zeroReader{}, size); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// gnuSparse is an old-GNU sparse member ('S') of the given full size whose
// only data is an empty region: 1.5 KiB of archive for a file of any size.
func gnuSparse(t *testing.T, name string, size int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Format: tar.FormatGNU}); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	blk := b[:512]
	blk[156] = tar.TypeGNUSparse
	octal := func(off, n int, v int64) {
		s := fmt.Sprintf("%0*s", n-1, strconv.FormatInt(v, 8))
		copy(blk[off:off+n], s+"\x00")
	}
	octal(386, 12, size) // sparse[0].offset: the data region sits at the end
	octal(398, 12, 0)    // sparse[0].length
	octal(483, 12, size) // realsize
	copy(blk[148:156], "        ")
	var sum int64
	for _, c := range blk {
		sum += int64(c)
	}
	copy(blk[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

func TestApplyMaxSize(t *testing.T) {
	requireRoot(t)
	many := make([]tartest.Entry, 0, 4000)
	for i := range 4000 {
		many = append(many, tartest.Dir(fmt.Sprintf("d%04d", i)))
	}
	fiveFiles := make([]tartest.Entry, 0, 5)
	for i := range 5 {
		fiveFiles = append(fiveFiles, tartest.File(fmt.Sprintf("f%d", i), string(make([]byte, 300<<10))))
	}
	cases := []struct {
		name    string
		data    []byte
		max     int64
		wantErr bool
		absent  string // a file that must not have been created
		present string // a file that must have been written in full
		size    int64  // its size
	}{
		{name: "gzip bomb over the limit", data: zeroBomb(t, "zeros", 64<<20), max: 1 << 20, wantErr: true, absent: "zeros"},
		{name: "gzip bomb under the limit", data: zeroBomb(t, "zeros", 512<<10), max: 1 << 20, present: "zeros", size: 512 << 10},
		{name: "gzip bomb without a limit", data: zeroBomb(t, "zeros", 64<<20)},
		{name: "files adding up past the limit", data: tartest.Build(t, fiveFiles...), max: 1 << 20, wantErr: true, absent: "f4"},
		{name: "headers alone past the limit", data: tartest.Build(t, many...), max: 1 << 20, wantErr: true},
		{name: "sparse file past the limit", data: gnuSparse(t, "holes", 1<<40), max: 1 << 30, wantErr: true, absent: "holes"},
		{name: "sparse file under the limit", data: gnuSparse(t, "holes", 4<<20), max: 8 << 20, present: "holes", size: 4 << 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			_, err := applyBytes(t, root, tc.data, ApplyOptions{MaxSize: tc.max})
			var se *SizeLimitError
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("Apply: %v", err)
				}
				if tc.present != "" {
					if fi, err := os.Lstat(filepath.Join(root, tc.present)); err != nil || fi.Size() != tc.size {
						t.Errorf("%s: %v, %v; want %d bytes", tc.present, fi, err, tc.size)
					}
				}
				return
			}
			if !errors.As(err, &se) || se.Limit != tc.max {
				t.Fatalf("Apply error = %v, want a *SizeLimitError with limit %d", err, tc.max)
			}
			if tc.absent != "" {
				if _, err := os.Lstat(filepath.Join(root, tc.absent)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s was created (%v) although it passes the limit", tc.absent, err)
				}
			}
		})
	}
}
