package layer

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// zstdMaxWindow bounds the memory a zstd stream may make the decoder
// allocate. 128 MiB covers "zstd --long=27", the largest window common
// tools produce by default in long mode.
const zstdMaxWindow = 128 << 20

// Decompress detects the compression of r from its magic bytes and returns
// a reader of the decompressed stream with the format's name: "gzip",
// "zstd", "bzip2", "xz", or "uncompressed" when no magic matches (r is
// then returned as is, buffered). Closing the result releases decoder
// resources; it does not close r.
func Decompress(r io.Reader) (io.ReadCloser, string, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(6)
	if err != nil && err != io.EOF {
		return nil, "", fmt.Errorf("detecting compression: %w", err)
	}
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, "", fmt.Errorf("opening gzip stream: %w", err)
		}
		return zr, "gzip", nil
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br,
			zstd.WithDecoderMaxWindow(zstdMaxWindow),
			zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, "", fmt.Errorf("opening zstd stream: %w", err)
		}
		return zr.IOReadCloser(), "zstd", nil
	case bytes.HasPrefix(magic, []byte("BZh")):
		return io.NopCloser(bzip2.NewReader(br)), "bzip2", nil
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		xr, err := xz.NewReader(br)
		if err != nil {
			return nil, "", fmt.Errorf("opening xz stream: %w", err)
		}
		return io.NopCloser(xr), "xz", nil
	}
	return io.NopCloser(br), "uncompressed", nil
}
