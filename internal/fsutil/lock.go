package fsutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// ErrLocked is returned by TryLock and TryLockShared when another open file
// description holds a conflicting lock.
var ErrLocked = errors.New("lock is held by another process")

// Lock is an advisory lock (flock(2)) on a file, exclusive or shared. It is
// released by Unlock or when the process exits, so a crashed holder never
// leaves a stale lock behind.
type Lock struct {
	f    *os.File
	path string
}

// LockFile takes an exclusive lock on path, creating the file if needed, and
// waits for as long as another holder keeps it. Use LockFileContext to bound
// the wait.
func LockFile(path string) (*Lock, error) {
	return lockWait(path, unix.LOCK_EX)
}

// LockFileShared takes a shared lock on path, creating the file if needed:
// any number of shared holders coexist, and they exclude exclusive ones. It
// waits for as long as an exclusive holder keeps the lock. Use
// LockFileSharedContext to bound the wait.
func LockFileShared(path string) (*Lock, error) {
	return lockWait(path, unix.LOCK_SH)
}

// TryLock takes an exclusive lock on path without waiting; it returns an
// error wrapping ErrLocked when the lock is held elsewhere.
func TryLock(path string) (*Lock, error) {
	return tryLock(path, unix.LOCK_EX)
}

// TryLockShared takes a shared lock on path without waiting; it returns an
// error wrapping ErrLocked when an exclusive lock is held elsewhere.
func TryLockShared(path string) (*Lock, error) {
	return tryLock(path, unix.LOCK_SH)
}

// LockFileContext takes an exclusive lock on path, polling until it is free
// or ctx is done.
func LockFileContext(ctx context.Context, path string) (*Lock, error) {
	return lockPoll(ctx, path, TryLock)
}

// LockFileSharedContext takes a shared lock on path, polling until no
// exclusive holder is left or ctx is done.
func LockFileSharedContext(ctx context.Context, path string) (*Lock, error) {
	return lockPoll(ctx, path, TryLockShared)
}

// Unlock releases the lock. Calling it again is a no-op.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	f := l.f
	l.f = nil
	unlockErr := unix.Flock(int(f.Fd()), unix.LOCK_UN)
	closeErr := f.Close()
	if unlockErr != nil {
		return fmt.Errorf("unlocking %s: %w", l.path, unlockErr)
	}
	if closeErr != nil {
		return fmt.Errorf("closing lock file %s: %w", l.path, closeErr)
	}
	return nil
}

// lockWait takes the lock of kind how (LOCK_EX or LOCK_SH), blocking.
func lockWait(path string, how int) (*Lock, error) {
	f, err := openLockFile(path)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return &Lock{f: f, path: path}, nil
}

// tryLock takes the lock of kind how (LOCK_EX or LOCK_SH) if it is free.
func tryLock(path string, how int) (*Lock, error) {
	f, err := openLockFile(path)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("locking %s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return &Lock{f: f, path: path}, nil
}

// lockPoll retries try with a growing delay. A blocking flock cannot be
// interrupted when ctx is done, hence the polling.
func lockPoll(ctx context.Context, path string, try func(string) (*Lock, error)) (*Lock, error) {
	delay := 5 * time.Millisecond
	for {
		l, err := try(path)
		if !errors.Is(err, ErrLocked) {
			return l, err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("waiting for lock %s: %w", path, ctx.Err())
		case <-t.C:
		}
		delay = min(delay*2, 200*time.Millisecond)
	}
}

func openLockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening lock file %s: %w", path, err)
	}
	return f, nil
}
