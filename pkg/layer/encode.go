package layer

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"runtime"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
	"github.com/opencontainers/go-digest"
)

// gzipBlockSize is the input size pgzip compresses as one deflate segment
// (primed with the previous segment's last 16 KiB and ended by a sync
// flush). The split points, and so the bytes of a gzip layer, depend on
// this size and the level alone, never on how many segments are in flight,
// which is why the concurrency may follow the machine. It is pinned here
// so a change of pgzip's default cannot change layer digests.
const gzipBlockSize = 1 << 20

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
	// An uncompressed blob is the tar itself: its digest is the diff
	// ID, and hashing the bytes twice would halve the throughput.
	var blobHash hash.Hash
	blob := &countWriter{w: dst}
	if o.Compression != Uncompressed {
		blobHash = sha256.New()
		blob.w = io.MultiWriter(dst, blobHash)
	}
	comp, err := newCompressor(blob, o, runtime.GOMAXPROCS(0))
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
		// A failed close can leave pgzip's writer goroutine waiting.
		comp.abort()
		return Desc{}, fmt.Errorf("finishing %s layer: %w", o.Compression, err)
	}
	d := Desc{
		DiffID:    digest.NewDigest(digest.SHA256, diffHash),
		Size:      blob.n,
		MediaType: mediaType,
	}
	d.Digest = d.DiffID
	if blobHash != nil {
		d.Digest = digest.NewDigest(digest.SHA256, blobHash)
	}
	return d, nil
}

// compressor is a compressing writer that can also be dropped without
// producing a valid stream.
type compressor interface {
	io.WriteCloser
	// abort releases the compressor's resources after a failed pass.
	abort()
}

// newCompressor returns the writer for o.Compression at o.Level, using
// up to procs goroutines. The bytes it produces do not depend on procs:
// TestEncodeIndependentOfConcurrency holds both encoders to that.
//
// Gzip always goes through pgzip, even for a layer of a few KB, where
// allocating its 1 MiB segment buffers makes it about half a millisecond
// slower than a plain gzip.Writer: small next to the build step that made
// the layer. The two write different deflate streams, so choosing by size
// would tie a layer's digest to the encoder rather than to the tar alone.
// Smaller segments would barely help small layers (the flate state costs
// as much) and lose about 1% of ratio at 256 KiB.
func newCompressor(w io.Writer, o EncodeOptions, procs int) (compressor, error) {
	switch o.Compression {
	case Gzip:
		level := pgzip.DefaultCompression
		if o.Level != 0 {
			if o.Level < pgzip.BestSpeed || o.Level > pgzip.BestCompression {
				return nil, fmt.Errorf("creating gzip writer: level %d outside 1..9", o.Level)
			}
			level = o.Level
		}
		zw, err := pgzip.NewWriterLevel(w, level)
		if err != nil {
			return nil, fmt.Errorf("creating gzip writer: %w", err)
		}
		if err := zw.SetConcurrency(gzipBlockSize, procs); err != nil {
			return nil, fmt.Errorf("creating gzip writer: %w", err)
		}
		// No name and an mtime of 0 ("none" in RFC 1952) keep the output
		// reproducible. The zero time.Time would be written as a
		// truncated negative number instead.
		zw.ModTime = time.Unix(0, 0)
		return gzipCompressor{zw}, nil
	case Zstd:
		// A zstd stream is cut into blocks by size alone; the concurrency
		// only lets the next block be encoded while the last one is
		// written, so the bytes are the same for any value, 1 included.
		// WithConcurrentBlocks, which would spread one stream over all
		// cores, stays off: its bytes differ from the plain stream's and
		// it turns itself off at a concurrency of 1.
		opts := []zstd.EOption{zstd.WithEncoderConcurrency(procs)}
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

type gzipCompressor struct{ *pgzip.Writer }

// abort stops the writer's goroutines: Reset ends the stream without a
// trailer and waits for segments already being compressed, which may
// still reach the destination, leaving it truncated either way.
func (g gzipCompressor) abort() {
	g.Writer.Reset(io.Discard)
}

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
