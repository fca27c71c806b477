package source

import (
	"crypto/sha256"
	"encoding/binary"
	"hash/crc32"
	"io"
	"os"
)

// This file is the format of the hasher's stat-cache file.

// maxHashCacheSize: a larger cache file is ignored rather than loaded
// (1M entries with long paths stay well below it).
const maxHashCacheSize = 1 << 30

// The cache file is
//
//	header:  hashHeaderSize bytes (see the hdr* offsets)
//	paths:   pathBytes bytes, every entry's path concatenated in entry order
//	records: count × hashRecordSize bytes (see the rec* offsets)
//	trailer: CRC-32C of everything before it, uint32
//
// all little-endian. The paths come first so that loading makes one string
// of them all and slices the keys out of it. Any change to the layout
// below needs a new hashCacheVersion.
const (
	hashCacheMagic   = "OBHC"
	hashCacheVersion = 1
	hashTrailerSize  = 4
)

// The header: each offset is where its field starts, and the next one
// follows it, so the sizes are written once.
const (
	hdrMagic       = 0              // [4]byte, hashCacheMagic
	hdrVersion     = hdrMagic + 4   // uint32, hashCacheVersion
	hdrCount       = hdrVersion + 4 // uint64, number of records
	hdrPathBytes   = hdrCount + 8   // uint64, length of the paths section
	hashHeaderSize = hdrPathBytes + 8
)

// A record: one hashEntry without its path, which is in the paths section.
// putRecord and getRecord both read the layout from these offsets.
const (
	recPathLen     = 0               // uint32, length of the entry's path
	recDev         = recPathLen + 4  // uint64
	recIno         = recDev + 8      // uint64
	recSize        = recIno + 8      // int64
	recMtime       = recSize + 8     // int64, nanoseconds
	recCtime       = recMtime + 8    // int64, nanoseconds
	recMode        = recCtime + 8    // uint32
	recLastUsed    = recMode + 4     // int64, Unix seconds
	recSum         = recLastUsed + 8 // [sha256.Size]byte
	hashRecordSize = recSum + sha256.Size
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// hashHeader is the variable part of the header.
type hashHeader struct {
	count, pathBytes uint64
}

// putHeader writes h into b, which is hashHeaderSize bytes long.
func putHeader(b []byte, h hashHeader) {
	le := binary.LittleEndian
	copy(b[hdrMagic:hdrVersion], hashCacheMagic)
	le.PutUint32(b[hdrVersion:], hashCacheVersion)
	le.PutUint64(b[hdrCount:], h.count)
	le.PutUint64(b[hdrPathBytes:], h.pathBytes)
}

// getHeader reads the header at the start of b, which is at least
// hashHeaderSize bytes long; ok is false for another magic or version.
func getHeader(b []byte) (h hashHeader, ok bool) {
	le := binary.LittleEndian
	if string(b[hdrMagic:hdrVersion]) != hashCacheMagic || le.Uint32(b[hdrVersion:]) != hashCacheVersion {
		return hashHeader{}, false
	}
	return hashHeader{count: le.Uint64(b[hdrCount:]), pathBytes: le.Uint64(b[hdrPathBytes:])}, true
}

// putRecord writes e, but for its path, into r, which is hashRecordSize
// bytes long.
func putRecord(r []byte, e *hashEntry) {
	le := binary.LittleEndian
	le.PutUint32(r[recPathLen:], uint32(len(e.path)))
	le.PutUint64(r[recDev:], e.id.dev)
	le.PutUint64(r[recIno:], e.id.ino)
	le.PutUint64(r[recSize:], uint64(e.id.size))
	le.PutUint64(r[recMtime:], uint64(e.id.mtime))
	le.PutUint64(r[recCtime:], uint64(e.id.ctime))
	le.PutUint32(r[recMode:], e.id.mode)
	le.PutUint64(r[recLastUsed:], uint64(e.lastUsed))
	copy(r[recSum:hashRecordSize], e.sum[:])
}

// getRecord reads the record r, which is hashRecordSize bytes long, into e
// but for its path, and returns the length of the path.
func getRecord(r []byte, e *hashEntry) (pathLen uint64) {
	le := binary.LittleEndian
	e.id = fileIdentity{
		dev:   le.Uint64(r[recDev:]),
		ino:   le.Uint64(r[recIno:]),
		size:  int64(le.Uint64(r[recSize:])),
		mtime: int64(le.Uint64(r[recMtime:])),
		ctime: int64(le.Uint64(r[recCtime:])),
		mode:  le.Uint32(r[recMode:]),
	}
	e.lastUsed = int64(le.Uint64(r[recLastUsed:]))
	copy(e.sum[:], r[recSum:hashRecordSize])
	return uint64(le.Uint32(r[recPathLen:]))
}

// loadHashCache reads the cache file at path. Any problem (missing,
// unreadable, truncated, checksum mismatch, unknown version) yields an
// empty cache: the cache only saves work, and the checksum keeps a damaged
// file from supplying a wrong digest.
func loadHashCache(path string) ([]hashEntry, map[string]int) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil
	}
	defer f.Close() // read-only: a close error loses nothing
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > maxHashCacheSize {
		return nil, nil
	}
	data := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, nil
	}
	return decodeHashCache(data)
}

// decodeHashCache parses a cache file; nil results mean it is not one
// this code wrote.
func decodeHashCache(data []byte) ([]hashEntry, map[string]int) {
	if len(data) < hashHeaderSize+hashTrailerSize {
		return nil, nil
	}
	body := data[:len(data)-hashTrailerSize]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(data[len(body):]) {
		return nil, nil
	}
	hdr, ok := getHeader(body)
	if !ok {
		return nil, nil
	}
	count, pathBytes := hdr.count, hdr.pathBytes
	rest := uint64(len(body) - hashHeaderSize)
	if pathBytes > rest || count != (rest-pathBytes)/hashRecordSize || (rest-pathBytes)%hashRecordSize != 0 {
		return nil, nil
	}
	// One string for all paths: one allocation instead of one per entry.
	paths := string(body[hashHeaderSize : hashHeaderSize+pathBytes])
	records := body[hashHeaderSize+pathBytes:]
	entries := make([]hashEntry, count)
	index := make(map[string]int, count)
	var off uint64
	for i := range entries {
		e := &entries[i]
		n := getRecord(records[i*hashRecordSize:(i+1)*hashRecordSize], e)
		if n == 0 || n > pathBytes-off {
			return nil, nil
		}
		e.path = paths[off : off+n]
		off += n
		index[e.path] = i
	}
	// A duplicate path overwrote an index entry: the file is not one this
	// code wrote.
	if off != pathBytes || len(index) != len(entries) {
		return nil, nil
	}
	return entries, index
}

// encodeHashCache writes entries as a cache file to w.
func encodeHashCache(w io.Writer, entries []hashEntry) error {
	cw := crcWriter{w: w, buf: make([]byte, 0, 64<<10)}
	var pathBytes uint64
	for _, e := range entries {
		pathBytes += uint64(len(e.path))
	}
	var hdr [hashHeaderSize]byte
	putHeader(hdr[:], hashHeader{count: uint64(len(entries)), pathBytes: pathBytes})
	cw.write(hdr[:])
	for _, e := range entries {
		cw.write([]byte(e.path))
	}
	var r [hashRecordSize]byte
	for i := range entries {
		putRecord(r[:], &entries[i])
		cw.write(r[:])
	}
	if err := cw.flush(); err != nil {
		return err
	}
	var trailer [hashTrailerSize]byte
	binary.LittleEndian.PutUint32(trailer[:], cw.crc)
	_, err := w.Write(trailer[:])
	return err
}

// crcWriter batches small writes so the checksum is updated over large
// chunks; the first write error is kept and reported by flush.
type crcWriter struct {
	w   io.Writer
	buf []byte
	crc uint32
	err error
}

func (c *crcWriter) write(p []byte) {
	if len(c.buf)+len(p) > cap(c.buf) {
		_ = c.flush() // kept in c.err
	}
	c.buf = append(c.buf, p...)
}

func (c *crcWriter) flush() error {
	if c.err == nil && len(c.buf) > 0 {
		c.crc = crc32.Update(c.crc, castagnoli, c.buf)
		_, c.err = c.w.Write(c.buf)
	}
	c.buf = c.buf[:0]
	return c.err
}
