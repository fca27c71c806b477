package source

import (
	"cmp"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ocibuilder/builder/internal/fsutil"
)

// This file holds the hasher and its in-memory stat cache; hashpool.go
// reads files in parallel for it, and hashcache.go is the cache's file
// format.

const (
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
)

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
