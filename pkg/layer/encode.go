package layer

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
)

// zstdConcurrency is fixed rather than taken from GOMAXPROCS so the bytes
// of a zstd layer, and hence its digest, do not depend on the machine.
const zstdConcurrency = 4

// Encode streams one layer: src writes the uncompressed tar, which is
// hashed (DiffID), compressed as o says, hashed again (Digest), counted
// (Size) and written to dst, all in one pass with no temporary file. dst
// is not closed. Gzip output carries no name or timestamp, so equal tars
// give equal blobs. An error from src, dst or ctx aborts the pass; the
// compressor is released either way.
func Encode(ctx context.Context, dst io.Writer, o EncodeOptions, src func(io.Writer) error) (Desc, error) {
	mediaType, err := o.Compression.MediaType()
	if err != nil {
		return Desc{}, err
	}
	blobHash := sha256.New()
	blob := &countWriter{w: io.MultiWriter(dst, blobHash)}
	comp, err := newCompressor(blob, o)
	if err != nil {
		return Desc{}, err
	}
	diffHash := sha256.New()
	tarSink := &ctxWriter{ctx: ctx, w: io.MultiWriter(diffHash, comp)}
	if err := src(tarSink); err != nil {
		comp.abort()
		return Desc{}, fmt.Errorf("encoding %s layer: %w", o.Compression, err)
	}
	if err := ctx.Err(); err != nil {
		comp.abort()
		return Desc{}, fmt.Errorf("encoding %s layer: %w", o.Compression, err)
	}
	if err := comp.Close(); err != nil {
		return Desc{}, fmt.Errorf("finishing %s layer: %w", o.Compression, err)
	}
	return Desc{
		Digest:    digest.NewDigest(digest.SHA256, blobHash),
		DiffID:    digest.NewDigest(digest.SHA256, diffHash),
		Size:      blob.n,
		MediaType: mediaType,
	}, nil
}

// compressor is a compressing writer that can also be dropped without
// producing a valid stream.
type compressor interface {
	io.WriteCloser
	// abort releases the compressor's resources after a failed pass.
	abort()
}

// newCompressor returns the writer for o.Compression at o.Level.
func newCompressor(w io.Writer, o EncodeOptions) (compressor, error) {
	switch o.Compression {
	case Gzip:
		level := o.Level
		if level == 0 {
			level = gzip.DefaultCompression
		}
		zw, err := gzip.NewWriterLevel(w, level)
		if err != nil {
			return nil, fmt.Errorf("creating gzip writer: %w", err)
		}
		// No name and an mtime of 0 ("none" in RFC 1952) keep the output
		// reproducible. The zero time.Time would be written as a
		// truncated negative number instead.
		zw.ModTime = time.Unix(0, 0)
		return gzipCompressor{zw}, nil
	case Zstd:
		opts := []zstd.EOption{zstd.WithEncoderConcurrency(zstdConcurrency)}
		if o.Level != 0 {
			if o.Level < 1 || o.Level > 22 {
				return nil, fmt.Errorf("creating zstd writer: level %d outside 1..22", o.Level)
			}
			opts = append(opts, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(o.Level)))
		}
		zw, err := zstd.NewWriter(w, opts...)
		if err != nil {
			return nil, fmt.Errorf("creating zstd writer: %w", err)
		}
		return zstdCompressor{zw}, nil
	case Uncompressed:
		if o.Level != 0 {
			return nil, fmt.Errorf("creating layer writer: level %d given for an uncompressed layer", o.Level)
		}
		return plainCompressor{w}, nil
	}
	return nil, fmt.Errorf("creating layer writer: unknown %s", o.Compression)
}

type gzipCompressor struct{ *gzip.Writer }

// abort drops the gzip state; the writer holds no goroutines.
func (gzipCompressor) abort() {}

type zstdCompressor struct{ *zstd.Encoder }

// abort stops the encoder's goroutines. Reset to io.Discard first so the
// close does not write a frame trailer to the caller's destination.
func (z zstdCompressor) abort() {
	z.Encoder.Reset(io.Discard)
	_ = z.Encoder.Close() // writes only to io.Discard
}

type plainCompressor struct{ io.Writer }

func (plainCompressor) Close() error { return nil }
func (plainCompressor) abort()       {}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ctxWriter fails writes once ctx is done, so a producer that only writes
// still stops promptly on cancellation.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c *ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}
