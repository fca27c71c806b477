package layer

import (
	"bytes"
	stdgzip "compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/internal/tartest"
)

// encoded is an Encode result with the blob it wrote.
type encoded struct {
	desc Desc
	blob []byte
}

// encodeBytes encodes tarData with compression c.
func encodeBytes(t testing.TB, c Compression, tarData []byte) encoded {
	t.Helper()
	var buf bytes.Buffer
	d, err := Encode(context.Background(), &buf, EncodeOptions{Compression: c}, func(w io.Writer) error {
		_, err := w.Write(tarData)
		return err
	})
	if err != nil {
		t.Fatalf("Encode %s: %v", c, err)
	}
	return encoded{desc: d, blob: buf.Bytes()}
}

func sampleTar(t testing.TB) []byte {
	t.Helper()
	big := bytes.Repeat([]byte("layer content "), 300_000) // several zstd blocks
	return tartest.Build(t,
		tartest.Dir("etc"),
		tartest.File("etc/hosts", "127.0.0.1 localhost\n"),
		tartest.File("big", string(big)),
	)
}

func TestEncodeDigests(t *testing.T) {
	tarData := sampleTar(t)
	tests := []struct {
		c         Compression
		mediaType string
	}{
		{Gzip, ocispec.MediaTypeImageLayerGzip},
		{Zstd, ocispec.MediaTypeImageLayerZstd},
		{Uncompressed, ocispec.MediaTypeImageLayer},
	}
	for _, tc := range tests {
		t.Run(tc.c.String(), func(t *testing.T) {
			e := encodeBytes(t, tc.c, tarData)
			if got := digest.FromBytes(e.blob); got != e.desc.Digest {
				t.Errorf("Digest %s, sha256 of blob %s", e.desc.Digest, got)
			}
			if e.desc.Size != int64(len(e.blob)) {
				t.Errorf("Size %d, blob has %d bytes", e.desc.Size, len(e.blob))
			}
			if e.desc.MediaType != tc.mediaType {
				t.Errorf("MediaType %s, want %s", e.desc.MediaType, tc.mediaType)
			}
			rc, format, err := Decompress(bytes.NewReader(e.blob))
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			h := sha256.New()
			if _, err := io.Copy(h, rc); err != nil {
				t.Fatal(err)
			}
			if got := digest.NewDigest(digest.SHA256, h); got != e.desc.DiffID {
				t.Errorf("DiffID %s, sha256 of decompressed %s (%s)", e.desc.DiffID, got, format)
			}
			if e.desc.DiffID != digest.FromBytes(tarData) {
				t.Errorf("DiffID %s is not the digest of the tar", e.desc.DiffID)
			}
			if tc.c != Uncompressed && e.desc.Size >= int64(len(tarData)) {
				t.Errorf("%s blob of %d bytes is not smaller than the %d-byte tar", tc.c, e.desc.Size, len(tarData))
			}
			again := encodeBytes(t, tc.c, tarData)
			if !bytes.Equal(again.blob, e.blob) {
				t.Error("encoding twice gave different blobs")
			}
		})
	}
}

func TestEncodeGzipHeaderIsBare(t *testing.T) {
	e := encodeBytes(t, Gzip, sampleTar(t))
	// RFC 1952: FLG at 3 (FNAME is 0x08), MTIME at 4..7.
	if flg := e.blob[3]; flg&0x08 != 0 {
		t.Errorf("gzip header carries a file name (FLG %#x)", flg)
	}
	if !bytes.Equal(e.blob[4:8], []byte{0, 0, 0, 0}) {
		t.Errorf("gzip header carries mtime %x", e.blob[4:8])
	}
}

// TestEncodeIndependentOfConcurrency encodes the same multi-segment
// input under several GOMAXPROCS values, which Encode hands to the
// compressors as their concurrency, and with different write sizes: the
// blobs must be identical, and readable by single-threaded decoders.
func TestEncodeIndependentOfConcurrency(t *testing.T) {
	// Several gzip segments and zstd blocks, with an incompressible
	// stretch, ending off any segment boundary.
	var in []byte
	in = append(in, compressibleData(3<<20)...)
	in = append(in, incompressibleData(3<<19)...)
	in = append(in, compressibleData(1<<20+12345)...)
	runs := []struct {
		procs, chunk int
	}{
		{1, len(in)},
		{2, 32 << 10},
		{8, 7919},
	}
	prev := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(prev)
	for _, c := range []Compression{Gzip, Zstd} {
		t.Run(c.String(), func(t *testing.T) {
			var want []byte
			for _, r := range runs {
				runtime.GOMAXPROCS(r.procs)
				var buf bytes.Buffer
				_, err := Encode(context.Background(), &buf, EncodeOptions{Compression: c}, func(w io.Writer) error {
					for p := in; len(p) > 0; {
						n := min(len(p), r.chunk)
						if _, err := w.Write(p[:n]); err != nil {
							return err
						}
						p = p[n:]
					}
					return nil
				})
				if err != nil {
					t.Fatalf("GOMAXPROCS %d: %v", r.procs, err)
				}
				if want == nil {
					want = buf.Bytes()
					continue
				}
				if !bytes.Equal(buf.Bytes(), want) {
					t.Errorf("GOMAXPROCS %d, %d-byte writes: %d-byte blob (sha256 %s) differs from GOMAXPROCS 1: %d bytes (sha256 %s)",
						r.procs, r.chunk, buf.Len(), digest.FromBytes(buf.Bytes()), len(want), digest.FromBytes(want))
				}
			}
			var out []byte
			var err error
			switch c {
			case Gzip:
				out, err = stdGunzip(want)
			case Zstd:
				out, err = zstdDecode(want)
			}
			if err != nil {
				t.Fatalf("decoding: %v", err)
			}
			if !bytes.Equal(out, in) {
				t.Errorf("decoded %d bytes differ from the %d-byte input", len(out), len(in))
			}
		})
	}
}

// stdGunzip decodes a single gzip member with the standard library.
func stdGunzip(blob []byte) ([]byte, error) {
	br := bytes.NewReader(blob)
	zr, err := stdgzip.NewReader(br)
	if err != nil {
		return nil, err
	}
	zr.Multistream(false)
	out, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		return nil, fmt.Errorf("header carries name %q, mtime %v", zr.Name, zr.ModTime)
	}
	// Nothing may follow the one member.
	if br.Len() != 0 {
		return nil, fmt.Errorf("%d bytes after the gzip member", br.Len())
	}
	return out, nil
}

// zstdDecode decodes with a plain single-threaded decoder.
func zstdDecode(blob []byte) ([]byte, error) {
	d, err := zstd.NewReader(bytes.NewReader(blob), zstd.WithDecoderConcurrency(1))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return io.ReadAll(d)
}

func TestEncodeLevels(t *testing.T) {
	tarData := sampleTar(t)
	tests := []struct {
		o  EncodeOptions
		ok bool
	}{
		{EncodeOptions{Compression: Gzip, Level: 1}, true},
		{EncodeOptions{Compression: Gzip, Level: 9}, true},
		{EncodeOptions{Compression: Gzip, Level: 42}, false},
		{EncodeOptions{Compression: Gzip, Level: 10}, false},
		{EncodeOptions{Compression: Gzip, Level: -1}, false},
		{EncodeOptions{Compression: Zstd, Level: 1}, true},
		{EncodeOptions{Compression: Zstd, Level: 19}, true},
		{EncodeOptions{Compression: Zstd, Level: 23}, false},
		{EncodeOptions{Compression: Uncompressed, Level: 3}, false},
		{EncodeOptions{Compression: Compression(7)}, false},
	}
	for _, tc := range tests {
		t.Run(tc.o.Compression.String(), func(t *testing.T) {
			var buf bytes.Buffer
			d, err := Encode(context.Background(), &buf, tc.o, func(w io.Writer) error {
				_, err := w.Write(tarData)
				return err
			})
			if (err == nil) != tc.ok {
				t.Fatalf("Encode(%+v) error %v, want ok=%v", tc.o, err, tc.ok)
			}
			if err == nil && d.Digest != digest.FromBytes(buf.Bytes()) {
				t.Errorf("digest mismatch at level %d", tc.o.Level)
			}
		})
	}
}

// TestEncodeGzipLevel checks that a level reaches the gzip encoder and
// that 0 means its default.
func TestEncodeGzipLevel(t *testing.T) {
	in := compressibleData(2 << 20)
	sizes := map[int]int{}
	for _, level := range []int{0, 1, 6, 9} {
		var buf bytes.Buffer
		_, err := Encode(context.Background(), &buf, EncodeOptions{Compression: Gzip, Level: level}, func(w io.Writer) error {
			_, err := w.Write(in)
			return err
		})
		if err != nil {
			t.Fatalf("level %d: %v", level, err)
		}
		out, err := stdGunzip(buf.Bytes())
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("level %d round trip: %v, equal %v", level, err, bytes.Equal(out, in))
		}
		sizes[level] = buf.Len()
	}
	if sizes[9] >= sizes[1] {
		t.Errorf("level 9 gave %d bytes, level 1 %d: levels not applied", sizes[9], sizes[1])
	}
	if sizes[0] == sizes[1] || sizes[0] == sizes[9] {
		t.Errorf("level 0 gave %d bytes like level 1 (%d) or 9 (%d), not the default", sizes[0], sizes[1], sizes[9])
	}
}

// failWriter fails every write.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// failAfter accepts n bytes, then fails every write.
type failAfter struct{ n int }

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		return 0, errors.New("disk full")
	}
	f.n -= len(p)
	return len(p), nil
}

func TestEncodeErrors(t *testing.T) {
	boom := errors.New("boom")
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tarData := sampleTar(t)
	discard := func() io.Writer { return io.Discard }
	writeAll := func(data []byte) func(io.Writer) error {
		return func(w io.Writer) error {
			_, err := w.Write(data)
			return err
		}
	}
	tests := []struct {
		name string
		ctx  context.Context
		dst  func() io.Writer
		src  func(io.Writer) error
		want error
	}{
		{"source fails midway", context.Background(), discard, func(w io.Writer) error {
			if _, err := w.Write(tarData[:1<<20]); err != nil {
				return err
			}
			return boom
		}, boom},
		{"context canceled", canceled, discard, writeAll(tarData), context.Canceled},
		{"destination fails", context.Background(), func() io.Writer { return failWriter{} }, writeAll(tarData), nil},
		// The header goes through, then a compressed segment fails,
		// reported by a later write or by Close.
		{"destination fails midway", context.Background(), func() io.Writer { return &failAfter{n: 64} }, writeAll(tarData), nil},
		{"destination fails at close", context.Background(), func() io.Writer { return &failAfter{n: 64} }, writeAll(tarData[:100<<10]), nil},
	}
	for _, c := range []Compression{Gzip, Zstd, Uncompressed} {
		for _, tc := range tests {
			t.Run(c.String()+"/"+tc.name, func(t *testing.T) {
				before := runtime.NumGoroutine()
				_, err := Encode(tc.ctx, tc.dst(), EncodeOptions{Compression: c}, tc.src)
				if err == nil {
					t.Fatal("Encode succeeded")
				}
				if tc.want != nil && !errors.Is(err, tc.want) {
					t.Errorf("error %v, want %v", err, tc.want)
				}
				waitGoroutines(t, before)
			})
		}
	}
}

// TestEncodeGzipErrorOnlyAtClose has a write error in a background
// segment reach Encode only at Close: the producer stops on its own as
// soon as the error is pending. Close then fails before finishing the
// stream, and Encode must still stop the writer's goroutine.
func TestEncodeGzipErrorOnlyAtClose(t *testing.T) {
	before := runtime.NumGoroutine()
	_, err := Encode(context.Background(), &failAfter{n: 64}, EncodeOptions{Compression: Gzip}, func(w io.Writer) error {
		// One full segment is handed to a compressing goroutine.
		if _, err := w.Write(compressibleData(gzipBlockSize)); err != nil {
			return err
		}
		// An empty write reports the pending error without queueing more.
		for {
			if _, err := w.Write(nil); err != nil {
				return nil
			}
			runtime.Gosched()
		}
	})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Encode error %v, want the destination's", err)
	}
	waitGoroutines(t, before)
}

// waitGoroutines fails t if more than n goroutines are still running
// after a grace period.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			t.Errorf("%d goroutines still running, started with %d", runtime.NumGoroutine(), n)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestParseCompression(t *testing.T) {
	tests := []struct {
		in   string
		want Compression
		ok   bool
	}{
		{"gzip", Gzip, true},
		{"ZSTD", Zstd, true},
		{"uncompressed", Uncompressed, true},
		{"none", Uncompressed, true},
		{"lz4", 0, false},
		{"", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseCompression(tc.in)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("ParseCompression(%q) = %v, %v", tc.in, got, err)
			}
			if tc.ok {
				if back, err := ParseCompression(got.String()); err != nil || back != got {
					t.Errorf("String/Parse round trip of %v gave %v, %v", got, back, err)
				}
			}
		})
	}
}
