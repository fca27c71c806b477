package source

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/ocibuilder/builder/internal/fsutil"
)

const (
	// hashBufSize is the read size: large enough that a typical source file
	// takes one read(2), small enough to keep one per job.
	hashBufSize = 256 << 10

	// racyWindow: a file whose mtime or ctime is this close to (or after)
	// the moment hashing started may still change within the timestamp
	// granularity without its stat identity changing, so it is not cached.
	racyWindow = time.Second

	// defaultMaxHashEntries bounds the cache file: entries used in a run are
	// always kept, older ones only up to this total.
	defaultMaxHashEntries = 1 << 20

	// touchInterval: a hit refreshes an entry's last-use time (and so forces
	// a rewrite of the cache file) only when the stored one is older, so a
	// warm build that only hits does not rewrite the file.
	touchInterval = 24 * time.Hour

	// maxHashCacheSize: a larger cache file is ignored rather than loaded
	// (1M entries with long paths stay well below it).
	maxHashCacheSize = 1 << 30
)

// The cache file is
//
//	header:  magic [4]byte, version uint32, count uint64, pathBytes uint64
//	paths:   pathBytes bytes, every entry's path concatenated in entry order
//	records: count × hashRecordSize bytes (see encodeRecord)
//	trailer: CRC-32C of everything before it, uint32
//
// all little-endian. The paths come first so that loading makes one string
// of them all and slices the keys out of it.
const (
	hashCacheMagic   = "OBHC"
	hashCacheVersion = 1
	hashHeaderSize   = 4 + 4 + 8 + 8
	hashRecordSize   = 4 + 8 + 8 + 8 + 8 + 8 + 4 + 8 + sha256.Size
	hashTrailerSize  = 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errNotRegular is wrapped by the error for a path that is not a regular
// file (symlink, directory, device, FIFO, socket).
var errNotRegular = errors.New("not a regular file")

// fileIdentity is what a cached digest is validated against: any write,
// truncation, replacement, chmod or chown changes at least one field.
type fileIdentity struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64 // nanoseconds since the epoch
	mode         uint32
}

func identityOf(st *unix.Stat_t) fileIdentity {
	return fileIdentity{
		dev:   uint64(st.Dev), // not uint64 on every architecture
		ino:   st.Ino,
		size:  st.Size,
		mtime: st.Mtim.Nano(),
		ctime: st.Ctim.Nano(),
		mode:  st.Mode,
	}
}

type hashEntry struct {
	path     string // absolute; "" once the entry is removed
	id       fileIdentity
	sum      [sha256.Size]byte
	lastUsed int64 // Unix seconds
	used     bool  // looked up or stored by this process
}

// FileHasher computes sha256 digests of regular files in parallel and
// remembers them in a stat cache persisted in one file, so that files whose
// stat identity (device, inode, size, mtime, ctime, mode) is unchanged since
// an earlier run are not read again.
//
// A cached digest is trusted only while the file's identity matches, and a
// file modified within about a second of being hashed is never cached, so a
// change that leaves the identity as it was cannot go unnoticed.
type FileHasher struct {
	cacheFile  string // absolute; "" keeps the cache in memory only
	jobs       int
	sem        chan struct{} // bounds reads across concurrent Digests calls
	bufs       sync.Pool     // *[]byte of hashBufSize
	now        func() time.Time
	maxEntries int
	openedAt   int64 // Unix seconds, the last-use time of this run

	mu      sync.Mutex
	entries []hashEntry
	index   map[string]int // path -> position in entries
	dirty   bool
	closed  bool

	cached, read atomic.Int64
}

// OpenFileHasher loads the stat cache from cacheFile and returns a hasher
// that reads at most jobs files at a time (runtime.GOMAXPROCS(0) when jobs
// <= 0). A missing, unreadable or corrupt cache file gives an empty cache;
// an empty cacheFile keeps the cache in memory only.
func OpenFileHasher(cacheFile string, jobs int) (*FileHasher, error) {
	if cacheFile != "" {
		abs, err := filepath.Abs(cacheFile)
		if err != nil {
			return nil, fmt.Errorf("hash cache %s: %w", cacheFile, err)
		}
		cacheFile = abs
	}
	if jobs <= 0 {
		jobs = runtime.GOMAXPROCS(0)
	}
	h := &FileHasher{
		cacheFile:  cacheFile,
		jobs:       jobs,
		sem:        make(chan struct{}, jobs),
		now:        time.Now,
		maxEntries: defaultMaxHashEntries,
		openedAt:   time.Now().Unix(),
	}
	h.bufs.New = func() any {
		b := make([]byte, hashBufSize)
		return &b
	}
	if cacheFile != "" {
		h.entries, h.index = loadHashCache(cacheFile)
	}
	if h.index == nil {
		h.index = make(map[string]int)
	}
	return h, nil
}

// Digests returns the sha256 digest of each path, in input order. Paths
// must name regular files; symlinks are not followed in the last component.
// Files the cache does not know are read in parallel. Digests is safe for
// concurrent use; the first error, which names its path, stops the work.
func (h *FileHasher) Digests(ctx context.Context, paths []string) ([]digest.Digest, error) {
	return h.DigestsOf(ctx, paths, nil)
}

// DigestsOf is Digests for callers that have just lstat'ed the files:
// infos[i], when not nil, is the os.Lstat of paths[i], and a file the
// cache knows by that identity costs no system call at all. A file
// changed since infos were taken is seen as such once it is read; one
// changed in between and cached under the old identity is no different
// from a file changed right after hashing.
func (h *FileHasher) DigestsOf(ctx context.Context, paths []string, infos []fs.FileInfo) ([]digest.Digest, error) {
	if infos != nil && len(infos) != len(paths) {
		return nil, fmt.Errorf("hashing files: %d infos for %d paths", len(infos), len(paths))
	}
	out := make([]digest.Digest, len(paths))
	if len(paths) == 0 {
		return out, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("hashing files: %w", err)
	}
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		return nil, errors.New("hashing files: file hasher is closed")
	}
	keys, err := absPaths(paths)
	if err != nil {
		return nil, err
	}

	workCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next, done atomic.Int64
		errOnce    sync.Once
		firstErr   error
	)
	work := func() {
		w := hashWorker{h: h}
		defer w.release()
		for workCtx.Err() == nil {
			i := int(next.Add(1) - 1)
			if i >= len(paths) {
				return
			}
			var info fs.FileInfo
			if infos != nil {
				info = infos[i]
			}
			d, err := w.digest(workCtx, paths[i], keys[i], info)
			if err != nil {
				errOnce.Do(func() {
					firstErr = err
					cancel()
				})
				return
			}
			out[i] = d
			done.Add(1)
		}
	}
	var wg sync.WaitGroup
	for range min(h.jobs, len(paths)) - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if int(done.Load()) != len(paths) {
		return nil, fmt.Errorf("hashing files: %w", ctx.Err())
	}
	return out, nil
}

// Stats reports how many digests came from the cache and how many files
// were read since OpenFileHasher.
func (h *FileHasher) Stats() (cached, read int64) {
	return h.cached.Load(), h.read.Load()
}

// Close writes the cache file back if the cache changed, atomically, and
// releases the cache. Entries used by this process are kept; older ones are
// dropped, least recently used first, beyond about a million entries.
// Concurrent processes sharing the file each replace it whole: the last to
// close wins. Calling Close again is a no-op.
func (h *FileHasher) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	entries, dirty := h.entries, h.dirty
	h.entries, h.index = nil, nil
	if !dirty || h.cacheFile == "" {
		return nil
	}
	live := slices.DeleteFunc(entries, func(e hashEntry) bool { return e.path == "" })
	live = evictHashEntries(live, h.maxEntries)
	if err := os.MkdirAll(filepath.Dir(h.cacheFile), 0o755); err != nil {
		return fmt.Errorf("writing hash cache: %w", err)
	}
	if err := fsutil.WriteFileAtomic(h.cacheFile, 0o600, func(w io.Writer) error {
		return encodeHashCache(w, live)
	}); err != nil {
		return fmt.Errorf("writing hash cache: %w", err)
	}
	return nil
}

// lookup returns the cached digest of path if its identity is still id.
func (h *FileHasher) lookup(path string, id fileIdentity) ([sha256.Size]byte, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	i, ok := h.index[path]
	if !ok || h.entries[i].id != id {
		return [sha256.Size]byte{}, false
	}
	e := &h.entries[i]
	e.used = true
	if e.lastUsed < h.openedAt-int64(touchInterval/time.Second) {
		e.lastUsed = h.openedAt
		h.dirty = true
	}
	return e.sum, true
}

// store records the digest of path read with identity id, unless the file
// is racy for a read that started at start; a racy file also loses any
// older entry, which no longer matches it anyway.
func (h *FileHasher) store(path string, id fileIdentity, sum [sha256.Size]byte, start time.Time) {
	limit := start.Add(-racyWindow).UnixNano()
	racy := id.mtime > limit || id.ctime > limit
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	i, ok := h.index[path]
	switch {
	case racy && ok:
		delete(h.index, path)
		h.entries[i] = hashEntry{}
	case racy:
		return
	case ok:
		h.entries[i] = hashEntry{path: path, id: id, sum: sum, lastUsed: h.openedAt, used: true}
	default:
		h.index[path] = len(h.entries)
		h.entries = append(h.entries, hashEntry{path: path, id: id, sum: sum, lastUsed: h.openedAt, used: true})
	}
	h.dirty = true
}

// hashWorker holds one goroutine's read buffer and hash state, taken only
// once it has a file to read.
type hashWorker struct {
	h   *FileHasher
	buf *[]byte
	sha hash.Hash
}

func (w *hashWorker) release() {
	if w.buf != nil {
		w.h.bufs.Put(w.buf)
		w.buf = nil
	}
}

// digest returns the digest of the file at key (the absolute form of p,
// which errors name). info, if not nil, is the caller's lstat of it.
func (w *hashWorker) digest(ctx context.Context, p, key string, info fs.FileInfo) (digest.Digest, error) {
	var id fileIdentity
	if sys, ok := infoStat(info); ok {
		id = fileIdentity{dev: uint64(sys.Dev), ino: sys.Ino, size: sys.Size,
			mtime: sys.Mtim.Nano(), ctime: sys.Ctim.Nano(), mode: sys.Mode}
	} else {
		var st unix.Stat_t
		if err := statNoEINTR(func() error { return lstatLong(key, &st) }); err != nil {
			return "", fmt.Errorf("hashing %s: %w", p, err)
		}
		id = identityOf(&st)
	}
	if err := checkRegular(p, id.mode); err != nil {
		return "", err
	}
	if sum, ok := w.h.lookup(key, id); ok {
		w.h.cached.Add(1)
		return sumDigest(sum), nil
	}
	// A file that changes while it is read is read once more; twice in a
	// row means it is being written to, and no digest of it is meaningful.
	for attempt := 0; ; attempt++ {
		start := w.h.now()
		sum, before, after, err := w.readFile(ctx, p, key)
		if err != nil {
			return "", err
		}
		if before == after {
			w.h.store(key, before, sum, start)
			return sumDigest(sum), nil
		}
		if attempt == 1 {
			return "", fmt.Errorf("hashing %s: file changed while it was being read", p)
		}
	}
}

// readFile hashes the file at key and returns its identity before and
// after reading.
func (w *hashWorker) readFile(ctx context.Context, p, key string) (sum [sha256.Size]byte, before, after fileIdentity, err error) {
	select {
	case w.h.sem <- struct{}{}:
	case <-ctx.Done():
		return sum, before, after, fmt.Errorf("hashing %s: %w", p, ctx.Err())
	}
	defer func() { <-w.h.sem }()

	// O_NONBLOCK: a FIFO swapped in after the Lstat must not block the
	// open; it has no effect on the regular file read below.
	var fd int
	err = statNoEINTR(func() (err error) {
		fd, err = fsutil.OpenLong(key, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK)
		return err
	})
	if err != nil {
		return sum, before, after, fmt.Errorf("hashing %s: %w", p, err)
	}
	defer unix.Close(fd) // read-only: a close error loses nothing
	var st unix.Stat_t
	if err := statNoEINTR(func() error { return unix.Fstat(fd, &st) }); err != nil {
		return sum, before, after, fmt.Errorf("hashing %s: %w", p, err)
	}
	if err := checkRegular(p, st.Mode); err != nil {
		return sum, before, after, err
	}
	before = identityOf(&st)
	w.h.read.Add(1)

	if w.buf == nil {
		w.buf = w.h.bufs.Get().(*[]byte)
		w.sha = sha256.New()
	}
	buf := *w.buf
	w.sha.Reset()
	for {
		if err := ctx.Err(); err != nil {
			return sum, before, after, fmt.Errorf("hashing %s: %w", p, err)
		}
		n, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return sum, before, after, fmt.Errorf("hashing %s: %w", p, err)
		}
		if n == 0 {
			break
		}
		w.sha.Write(buf[:n])
	}
	if err := statNoEINTR(func() error { return unix.Fstat(fd, &st) }); err != nil {
		return sum, before, after, fmt.Errorf("hashing %s: %w", p, err)
	}
	after = identityOf(&st)
	w.sha.Sum(sum[:0])
	return sum, before, after, nil
}

func statNoEINTR(f func() error) error {
	for {
		if err := f(); !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// lstatLong is lstat(2) for a path of any length: one the kernel refuses
// as too long is opened a piece at a time (fsutil.OpenLong) and fstat'ed.
func lstatLong(p string, st *unix.Stat_t) error {
	err := unix.Lstat(p, st)
	if !errors.Is(err, unix.ENAMETOOLONG) {
		return err
	}
	fd, err := fsutil.OpenLong(p, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Fstat(fd, st)
}

// infoStat returns the stat data behind an os.Lstat result.
func infoStat(info fs.FileInfo) (*syscall.Stat_t, bool) {
	if info == nil {
		return nil, false
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	return st, ok
}

func checkRegular(p string, mode uint32) error {
	var kind string
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return nil
	case unix.S_IFLNK:
		kind = "symlink"
	case unix.S_IFDIR:
		kind = "directory"
	case unix.S_IFIFO:
		kind = "FIFO"
	case unix.S_IFSOCK:
		kind = "socket"
	default:
		kind = "device"
	}
	return fmt.Errorf("hashing %s: %w (%s)", p, errNotRegular, kind)
}

func sumDigest(sum [sha256.Size]byte) digest.Digest {
	return digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(sum[:]))
}

// absPaths returns the clean absolute form of each path, the cache key.
func absPaths(paths []string) ([]string, error) {
	keys := make([]string, len(paths))
	var cwd string
	for i, p := range paths {
		if filepath.IsAbs(p) {
			keys[i] = filepath.Clean(p)
			continue
		}
		if cwd == "" {
			var err error
			if cwd, err = os.Getwd(); err != nil {
				return nil, fmt.Errorf("hashing %s: %w", p, err)
			}
		}
		keys[i] = filepath.Join(cwd, p)
	}
	return keys, nil
}

// evictHashEntries keeps every entry used by this process and, up to limit
// entries in all, the most recently used of the others.
func evictHashEntries(entries []hashEntry, limit int) []hashEntry {
	if len(entries) <= limit {
		return entries
	}
	kept := make([]hashEntry, 0, limit)
	var old []hashEntry
	for _, e := range entries {
		if e.used {
			kept = append(kept, e)
		} else {
			old = append(old, e)
		}
	}
	slices.SortFunc(old, func(a, b hashEntry) int { return cmp.Compare(b.lastUsed, a.lastUsed) })
	return append(kept, old[:min(len(old), max(0, limit-len(kept)))]...)
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

func decodeHashCache(data []byte) ([]hashEntry, map[string]int) {
	if len(data) < hashHeaderSize+hashTrailerSize {
		return nil, nil
	}
	body := data[:len(data)-hashTrailerSize]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(data[len(body):]) {
		return nil, nil
	}
	le := binary.LittleEndian
	if string(body[:4]) != hashCacheMagic || le.Uint32(body[4:]) != hashCacheVersion {
		return nil, nil
	}
	count, pathBytes := le.Uint64(body[8:]), le.Uint64(body[16:])
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
		r := records[i*hashRecordSize : (i+1)*hashRecordSize]
		n := uint64(le.Uint32(r))
		if n == 0 || n > pathBytes-off {
			return nil, nil
		}
		e := &entries[i]
		e.path = paths[off : off+n]
		off += n
		e.id = fileIdentity{
			dev:   le.Uint64(r[4:]),
			ino:   le.Uint64(r[12:]),
			size:  int64(le.Uint64(r[20:])),
			mtime: int64(le.Uint64(r[28:])),
			ctime: int64(le.Uint64(r[36:])),
			mode:  le.Uint32(r[44:]),
		}
		e.lastUsed = int64(le.Uint64(r[48:]))
		copy(e.sum[:], r[56:])
		index[e.path] = i
	}
	// A duplicate path overwrote an index entry: the file is not one this
	// code wrote.
	if off != pathBytes || len(index) != len(entries) {
		return nil, nil
	}
	return entries, index
}

func encodeHashCache(w io.Writer, entries []hashEntry) error {
	cw := crcWriter{w: w, buf: make([]byte, 0, 64<<10)}
	le := binary.LittleEndian
	var pathBytes uint64
	for _, e := range entries {
		pathBytes += uint64(len(e.path))
	}
	var hdr [hashHeaderSize]byte
	copy(hdr[:], hashCacheMagic)
	le.PutUint32(hdr[4:], hashCacheVersion)
	le.PutUint64(hdr[8:], uint64(len(entries)))
	le.PutUint64(hdr[16:], pathBytes)
	cw.write(hdr[:])
	for _, e := range entries {
		cw.write([]byte(e.path))
	}
	var r [hashRecordSize]byte
	for _, e := range entries {
		le.PutUint32(r[0:], uint32(len(e.path)))
		le.PutUint64(r[4:], e.id.dev)
		le.PutUint64(r[12:], e.id.ino)
		le.PutUint64(r[20:], uint64(e.id.size))
		le.PutUint64(r[28:], uint64(e.id.mtime))
		le.PutUint64(r[36:], uint64(e.id.ctime))
		le.PutUint32(r[44:], e.id.mode)
		le.PutUint64(r[48:], uint64(e.lastUsed))
		copy(r[56:], e.sum[:])
		cw.write(r[:])
	}
	if err := cw.flush(); err != nil {
		return err
	}
	var trailer [hashTrailerSize]byte
	le.PutUint32(trailer[:], cw.crc)
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
