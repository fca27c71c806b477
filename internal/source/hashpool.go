package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/ocibuilder/builder/internal/fsutil"
)

// This file is the hasher's worker pool: DigestsOf hands the paths out to
// up to jobs goroutines, each a hashWorker that answers from the stat cache
// or reads the file.

// hashBufSize is the read size: large enough that a typical source file
// takes one read(2), small enough to keep one per job.
const hashBufSize = 256 << 10

// errNotRegular is wrapped by the error for a path that is not a regular
// file (symlink, directory, device, FIFO, socket).
var errNotRegular = errors.New("not a regular file")

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
