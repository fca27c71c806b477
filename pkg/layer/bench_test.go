package layer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/ocibuilder/builder/internal/tartest"
)

func BenchmarkApply(b *testing.B) {
	requireRoot(b)
	var entries []tartest.Entry
	for d := 0; d < 100; d++ {
		entries = append(entries, tartest.Dir(fmt.Sprintf("usr/lib/d%d", d)))
		for f := 0; f < 50; f++ {
			entries = append(entries, tartest.File(fmt.Sprintf("usr/lib/d%d/f%d", d, f), "content"))
		}
	}
	data := tartest.Build(b, entries...)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := applyBytes(b, b.TempDir(), data, ApplyOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(entries)), "entries/op")
}

// benchInputSize is the size of the large Encode and Digest inputs.
const benchInputSize = 64 << 20

// compressibleData returns n bytes of text-like data drawn from a fixed
// vocabulary: it compresses about as well as typical file system content
// (roughly 3:1), unlike a repeated pattern that any encoder flattens.
func compressibleData(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789_/."
	words := make([][]byte, 4096)
	for i := range words {
		w := make([]byte, 2+rng.IntN(10))
		for j := range w {
			w[j] = letters[rng.IntN(len(letters))]
		}
		words[i] = w
	}
	seps := []byte(" \n\t=,;:")
	buf := make([]byte, 0, n+16)
	for len(buf) < n {
		buf = append(buf, words[rng.IntN(len(words))]...)
		buf = append(buf, seps[rng.IntN(len(seps))])
	}
	return buf[:n]
}

// incompressibleData returns n pseudo-random bytes.
func incompressibleData(n int) []byte {
	buf := make([]byte, n)
	var seed [32]byte
	_, _ = rand.NewChaCha8(seed).Read(buf) // never fails
	return buf
}

// encodeDiscard runs Encode over data into io.Discard with the default
// level, in 32 KiB writes like io.Copy from a file.
func encodeDiscard(b *testing.B, c Compression, data []byte) {
	_, err := Encode(context.Background(), io.Discard, EncodeOptions{Compression: c}, func(w io.Writer) error {
		for p := data; len(p) > 0; {
			n := min(len(p), 32<<10)
			if _, err := w.Write(p[:n]); err != nil {
				return err
			}
			p = p[n:]
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

func BenchmarkEncode(b *testing.B) {
	inputs := []struct {
		name string
		data []byte
	}{
		{"compressible", compressibleData(benchInputSize)},
		{"incompressible", incompressibleData(benchInputSize)},
		// A layer that only touches a config file or two.
		{"small", compressibleData(8 << 10)},
	}
	for _, c := range []Compression{Gzip, Zstd, Uncompressed} {
		for _, in := range inputs {
			b.Run(c.String()+"/"+in.name, func(b *testing.B) {
				b.SetBytes(int64(len(in.data)))
				b.ReportAllocs()
				for b.Loop() {
					encodeDiscard(b, c, in.data)
				}
			})
		}
	}
}

// BenchmarkDigest measures one sha256 as Encode feeds it: 32 KiB writes.
func BenchmarkDigest(b *testing.B) {
	data := incompressibleData(benchInputSize)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		h := sha256.New()
		for p := data; len(p) > 0; {
			n := min(len(p), 32<<10)
			h.Write(p[:n])
			p = p[n:]
		}
		if len(h.Sum(nil)) != sha256.Size {
			b.Fatal("short sum")
		}
	}
}

// BenchmarkWriteTar renders a tree of many small files and a few large
// ones, the shape of a package install, into io.Discard.
func BenchmarkWriteTar(b *testing.B) {
	root := b.TempDir()
	small := compressibleData(4 << 10)
	for d := 0; d < 50; d++ {
		dir := filepath.Join(root, "usr/share", fmt.Sprintf("d%02d", d))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		for f := 0; f < 40; f++ {
			// 1..4 KiB, so sizes vary like real files.
			body := small[:1<<10+(d*40+f)%(3<<10)]
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%02d", f)), body, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	large := incompressibleData(8 << 20)
	if err := os.MkdirAll(filepath.Join(root, "usr/lib"), 0o755); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		if err := os.WriteFile(filepath.Join(root, "usr/lib", fmt.Sprintf("big%d.so", i)), large, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	var cw countWriter
	cw.w = io.Discard
	if err := WriteTar(context.Background(), &cw, root, walkChanges(root), TarOptions{}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(cw.n)
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteTar(context.Background(), io.Discard, root, walkChanges(root), TarOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCompressibleData checks that the benchmark input is neither
// trivially compressible nor random, so gzip numbers mean something.
func TestCompressibleData(t *testing.T) {
	data := compressibleData(1 << 20)
	e := encodeBytes(t, Gzip, data)
	ratio := float64(len(data)) / float64(len(e.blob))
	if ratio < 1.5 || ratio > 6 {
		t.Errorf("gzip ratio %.2f, want a text-like 1.5..6", ratio)
	}
	if !bytes.Equal(data, compressibleData(1<<20)) {
		t.Error("compressibleData is not deterministic")
	}
}
