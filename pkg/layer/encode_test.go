package layer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"runtime"
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

func TestEncodeZstdIndependentOfCPUs(t *testing.T) {
	tarData := sampleTar(t)
	want := encodeBytes(t, Zstd, tarData)
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	got := encodeBytes(t, Zstd, tarData)
	if got.desc != want.desc {
		t.Errorf("zstd digest depends on GOMAXPROCS: %s vs %s", got.desc.Digest, want.desc.Digest)
	}
	// The frame must also be readable by a plain single-threaded decoder.
	d, err := zstd.NewReader(bytes.NewReader(got.blob), zstd.WithDecoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	out, err := io.ReadAll(d)
	if err != nil || !bytes.Equal(out, tarData) {
		t.Errorf("zstd round trip: %v, equal %v", err, bytes.Equal(out, tarData))
	}
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

// failWriter fails every write.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestEncodeErrors(t *testing.T) {
	boom := errors.New("boom")
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tarData := sampleTar(t)
	tests := []struct {
		name string
		ctx  context.Context
		dst  io.Writer
		src  func(io.Writer) error
		want error
	}{
		{"source fails midway", context.Background(), io.Discard, func(w io.Writer) error {
			if _, err := w.Write(tarData[:1<<20]); err != nil {
				return err
			}
			return boom
		}, boom},
		{"context canceled", canceled, io.Discard, func(w io.Writer) error {
			_, err := w.Write(tarData)
			return err
		}, context.Canceled},
		{"destination fails", context.Background(), failWriter{}, func(w io.Writer) error {
			_, err := w.Write(tarData)
			return err
		}, nil},
	}
	for _, c := range []Compression{Gzip, Zstd, Uncompressed} {
		for _, tc := range tests {
			t.Run(c.String()+"/"+tc.name, func(t *testing.T) {
				before := runtime.NumGoroutine()
				_, err := Encode(tc.ctx, tc.dst, EncodeOptions{Compression: c}, tc.src)
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
