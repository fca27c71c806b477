package oci

import (
	"context"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// zstdMaxWindow bounds the memory a hostile zstd layer can make the
// decoder allocate; 128 MiB covers the long mode of common tools.
const zstdMaxWindow = 128 << 20

// decompressed returns the uncompressed stream of a layer blob and a
// function releasing the decoder.
func decompressed(r io.Reader, c layerCompression) (io.Reader, func(), error) {
	switch c {
	case compressionNone:
		return r, func() {}, nil
	case compressionGzip:
		gz, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, fmt.Errorf("opening gzip stream: %w", err)
		}
		return gz, func() { _ = gz.Close() }, nil // gzip.Reader.Close only reports earlier read errors
	case compressionZstd:
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(zstdMaxWindow))
		if err != nil {
			return nil, nil, fmt.Errorf("opening zstd stream: %w", err)
		}
		return zr, zr.Close, nil
	}
	return nil, nil, fmt.Errorf("%w: unsupported layer compression", ErrInvalid)
}

// ctxReader stops a long copy once its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
