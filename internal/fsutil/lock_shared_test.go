package fsutil

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestLockSharedConflicts(t *testing.T) {
	tests := []struct {
		name      string
		held      func(string) (*Lock, error)
		try       func(string) (*Lock, error)
		wantBlock bool
	}{
		{"shared with shared", LockFileShared, TryLockShared, false},
		{"exclusive while shared", LockFileShared, TryLock, true},
		{"shared while exclusive", LockFile, TryLockShared, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "state.lock")
			held, err := tc.held(p)
			if err != nil {
				t.Fatal(err)
			}
			l, err := tc.try(p)
			if tc.wantBlock {
				if !errors.Is(err, ErrLocked) {
					t.Fatalf("err = %v, want ErrLocked", err)
				}
			} else if err != nil {
				t.Fatalf("err = %v, want the lock", err)
			}
			if err := l.Unlock(); err != nil {
				t.Fatal(err)
			}
			if err := held.Unlock(); err != nil {
				t.Fatal(err)
			}
			// Once the holder is gone, both kinds are free again.
			for _, try := range []func(string) (*Lock, error){TryLock, TryLockShared} {
				l, err := try(p)
				if err != nil {
					t.Fatalf("after release: %v", err)
				}
				if err := l.Unlock(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestLockFileSharedContext(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.lock")
	ex, err := LockFile(p)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := LockFileSharedContext(ctx, p); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("shared lock while exclusive held: err = %v, want deadline", err)
	}

	got := make(chan error, 1)
	go func() {
		l, err := LockFileSharedContext(context.Background(), p)
		if err == nil {
			err = l.Unlock()
		}
		got <- err
	}()
	if err := ex.Unlock(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("LockFileSharedContext did not return after the exclusive lock was released")
	}

	// Two shared holders at once, then a blocking exclusive waiter that
	// only gets through when both are gone.
	a, err := LockFileShared(p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LockFileSharedContext(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	exGot := make(chan error, 1)
	go func() {
		l, err := LockFile(p)
		select {
		case <-released:
		default:
			err = errors.New("exclusive lock granted while shared locks were held")
		}
		if l != nil {
			if uerr := l.Unlock(); err == nil {
				err = uerr
			}
		}
		exGot <- err
	}()
	if err := a.Unlock(); err != nil {
		t.Fatal(err)
	}
	close(released)
	if err := b.Unlock(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exGot:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("LockFile did not return after the shared locks were released")
	}
}
