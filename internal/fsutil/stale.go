package fsutil

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// RemoveStale removes the scratch entries of dir that belong to dead
// processes. A live process keeps <dir>/<name>.lock exclusively locked for
// as long as it uses <dir>/<name>; for every such lock file whose name
// starts with prefix and whose lock is free, RemoveStale removes <name>
// (file or tree) and then the lock file. It returns how many entries it
// removed. Entries it cannot remove are reported but do not stop the
// sweep; their lock file stays so that a later sweep retries them.
func RemoveStale(ctx context.Context, dir, prefix string) (int, error) {
	return RemoveStaleFunc(ctx, dir, func(name string) bool { return strings.HasPrefix(name, prefix) })
}

// RemoveStaleFunc is RemoveStale for the entries whose name (without
// ".lock") match accepts, for directories shared with files that are not
// the caller's, where a prefix alone would be too broad.
func RemoveStaleFunc(ctx context.Context, dir string, match func(name string) bool) (int, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("listing scratch directory %s: %w", dir, err)
	}
	var errs []error
	removed := 0
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return removed, fmt.Errorf("cleaning scratch directory %s: %w", dir, err)
		}
		name, ok := strings.CutSuffix(e.Name(), ".lock")
		if !ok || !e.Type().IsRegular() || !match(name) {
			continue
		}
		lockPath := filepath.Join(dir, e.Name())
		l, err := TryLock(lockPath)
		if errors.Is(err, ErrLocked) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := removeStaleEntry(filepath.Join(dir, name), lockPath); err != nil {
			errs = append(errs, err)
		} else {
			removed++
		}
		if err := l.Unlock(); err != nil {
			errs = append(errs, err)
		}
	}
	return removed, errors.Join(errs...)
}

// removeStaleEntry removes path and then its lock file, in that order, so
// that an interrupted removal leaves the lock file for the next sweep.
func removeStaleEntry(path, lockPath string) error {
	if err := os.RemoveAll(path); err != nil {
		return fmt.Errorf("removing stale scratch entry %s: %w", path, err)
	}
	if err := os.Remove(lockPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing stale lock file %s: %w", lockPath, err)
	}
	return nil
}

// Scratch is a scratch entry name reserved by this process: its lock file
// exists and is held, so RemoveStale leaves the entry alone however long
// it takes to write, and removes it once the process has died.
type Scratch struct {
	// Path is <dir>/<prefix><16 hex digits>. ReserveScratch creates
	// nothing there; the caller does.
	Path string
	lock *Lock
}

// scratchSuffixLen is the number of random hex digits ending a scratch name.
const scratchSuffixLen = 16

// ReserveScratch reserves a new scratch entry name in dir: it creates and
// exclusively locks <name>.lock before anything exists at <name>, so there
// is no moment at which a crash leaves an entry without a lock file (which
// no sweep would ever remove).
func ReserveScratch(dir, prefix string) (*Scratch, error) {
	for range 8 {
		var b [scratchSuffixLen / 2]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		p := filepath.Join(dir, prefix+hex.EncodeToString(b[:]))
		l, err := lockNew(p + ".lock")
		if errors.Is(err, errLockRaced) || errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &Scratch{Path: p, lock: l}, nil
	}
	return nil, fmt.Errorf("reserving a scratch name in %s: too many collisions", dir)
}

// errLockRaced means a sweep took a new lock file before its creator could
// lock it, and removed it.
var errLockRaced = errors.New("lock file removed by a concurrent sweep")

// lockNew creates the lock file path, which must not exist, and locks it.
// Between the creation and the flock a concurrent RemoveStale may take the
// unlocked file for a dead one and unlink it; the lock then guards
// nothing, which the inode comparison detects.
func lockNew(path string) (*Lock, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("creating lock file %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, errLockRaced
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	var held, named unix.Stat_t
	if err := unix.Fstat(fd, &held); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("inspecting lock file %s: %w", path, err)
	}
	if err := unix.Lstat(path, &named); err != nil || held.Ino != named.Ino || held.Dev != named.Dev {
		_ = f.Close()
		return nil, errLockRaced
	}
	return &Lock{f: f, path: path}, nil
}

// Release gives up the reservation. When nothing is left at Path (the
// entry was removed or renamed away) the lock file is removed too;
// otherwise it stays, unlocked, so the next sweep removes the entry.
func (s *Scratch) Release() error {
	if s == nil || s.lock == nil {
		return nil
	}
	var err error
	if _, statErr := os.Lstat(s.Path); errors.Is(statErr, os.ErrNotExist) {
		// Removed while still locked: a sweep that listed the file
		// earlier cannot take the lock and mistake the entry for dead.
		if rmErr := os.Remove(s.lock.path); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
			err = fmt.Errorf("removing lock file %s: %w", s.lock.path, rmErr)
		}
	}
	uerr := s.lock.Unlock()
	s.lock = nil
	return errors.Join(err, uerr)
}
