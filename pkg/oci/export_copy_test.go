package oci

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
)

// TestExportCopies checks both ways a blob is copied out without a
// reflink, on sizes around their chunk and buffer boundaries: in the
// kernel (copy_file_range, hashed from what landed) and through user
// memory (the fallback where the kernel cannot copy between the files).
func TestExportCopies(t *testing.T) {
	for _, size := range []int{0, 1, exportBufSize/2 - 1, exportBufSize, copyRangeChunk + 3, 2*copyRangeChunk + exportBufSize/2} {
		data := make([]byte, size)
		if _, err := rand.Read(data); err != nil {
			t.Fatal(err)
		}
		want := sha256.Sum256(data)
		dir := t.TempDir()
		srcPath := filepath.Join(dir, "src")
		if err := os.WriteFile(srcPath, data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, inKernel := range []bool{true, false} {
			src, err := os.Open(srcPath)
			if err != nil {
				t.Fatal(err)
			}
			dstPath := filepath.Join(dir, "dst")
			dst, err := os.OpenFile(dstPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			buf := make([]byte, exportBufSize)
			var n int64
			var copied bool
			if inKernel {
				n, copied, err = copyRangeHashing(context.Background(), dst, src, int64(size), h, buf)
				if err == nil && !copied {
					t.Fatalf("size %d: copy_file_range refused between two files of one filesystem", size)
				}
			} else {
				n, err = copyHashing(context.Background(), dst, h, src, buf)
			}
			src.Close()
			dst.Close()
			if err != nil {
				t.Fatalf("size %d, in kernel %v: %v", size, inKernel, err)
			}
			got, err := os.ReadFile(dstPath)
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(size) || !bytes.Equal(got, data) || !bytes.Equal(h.Sum(nil), want[:]) {
				t.Errorf("size %d, in kernel %v: copied %d bytes, content equal %v, hash equal %v",
					size, inKernel, n, bytes.Equal(got, data), bytes.Equal(h.Sum(nil), want[:]))
			}
		}
	}
}
