package source

import (
	"bytes"
	"crypto/sha256"
	"math"
	mathrand "math/rand/v2"
	"strings"
	"testing"
)

// TestHashCacheLayoutV1 pins the offsets of format version 1: a change
// here must come with a new hashCacheVersion, or old files would be read
// wrongly instead of being rejected.
func TestHashCacheLayoutV1(t *testing.T) {
	if hashCacheVersion != 1 {
		t.Skip("the layout of another version")
	}
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"hdrMagic", hdrMagic, 0}, {"hdrVersion", hdrVersion, 4}, {"hdrCount", hdrCount, 8},
		{"hdrPathBytes", hdrPathBytes, 16}, {"hashHeaderSize", hashHeaderSize, 24},
		{"recPathLen", recPathLen, 0}, {"recDev", recDev, 4}, {"recIno", recIno, 12},
		{"recSize", recSize, 20}, {"recMtime", recMtime, 28}, {"recCtime", recCtime, 36},
		{"recMode", recMode, 44}, {"recLastUsed", recLastUsed, 48}, {"recSum", recSum, 56},
		{"hashRecordSize", hashRecordSize, 88},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
}

// TestHashRecordRoundTrip writes records with extreme field values and
// reads them back.
func TestHashRecordRoundTrip(t *testing.T) {
	var sum [sha256.Size]byte
	for i := range sum {
		sum[i] = byte(0xff - i)
	}
	cases := map[string]hashEntry{
		"zero": {path: "/"},
		"max": {path: strings.Repeat("p", 4096), lastUsed: math.MaxInt64, sum: sum, id: fileIdentity{
			dev: math.MaxUint64, ino: math.MaxUint64, size: math.MaxInt64,
			mtime: math.MaxInt64, ctime: math.MaxInt64, mode: math.MaxUint32}},
		"before the epoch": {path: "/old", lastUsed: -1, sum: sum, id: fileIdentity{
			dev: 1, ino: 2, size: 3, mtime: math.MinInt64, ctime: -1, mode: 0o100644}},
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			r := make([]byte, hashRecordSize)
			putRecord(r, &want)
			var got hashEntry
			n := getRecord(r, &got)
			if n != uint64(len(want.path)) {
				t.Errorf("path length = %d, want %d", n, len(want.path))
			}
			got.path = want.path
			if got != want {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestHashCacheRoundTrip encodes entries as a cache file and decodes them:
// everything but the in-process used flag comes back, in order.
func TestHashCacheRoundTrip(t *testing.T) {
	rng := mathrand.New(mathrand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 1000} {
		entries := make([]hashEntry, n)
		for i := range entries {
			e := &entries[i]
			e.path = "/ctx/" + strings.Repeat("d/", rng.IntN(4)) + string(rune('a'+i%26)) + "-" + strings.Repeat("x", i)
			e.id = fileIdentity{dev: rng.Uint64(), ino: rng.Uint64(), size: rng.Int64(),
				mtime: rng.Int64() - math.MaxInt64/2, ctime: rng.Int64(), mode: rng.Uint32()}
			e.lastUsed = rng.Int64()
			e.used = i%2 == 0
			for j := range e.sum {
				e.sum[j] = byte(rng.Uint32())
			}
		}
		var buf bytes.Buffer
		if err := encodeHashCache(&buf, entries); err != nil {
			t.Fatal(err)
		}
		if want := hashHeaderSize + n*hashRecordSize + hashTrailerSize; buf.Len() < want {
			t.Fatalf("%d entries: file of %d bytes, want at least %d", n, buf.Len(), want)
		}
		got, index := decodeHashCache(buf.Bytes())
		if got == nil || len(got) != n || len(index) != n {
			t.Fatalf("%d entries: decoded %d entries, %d index keys", n, len(got), len(index))
		}
		for i, want := range entries {
			want.used = false
			if got[i] != want {
				t.Fatalf("entry %d:\n got %+v\nwant %+v", i, got[i], want)
			}
			if index[want.path] != i {
				t.Fatalf("index[%q] = %d, want %d", want.path, index[want.path], i)
			}
		}
	}
}
