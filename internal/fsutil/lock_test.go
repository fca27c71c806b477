package fsutil

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestLock(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.lock")
	l, err := LockFile(p)
	if err != nil {
		t.Fatal(err)
	}
	// flock conflicts between open file descriptions, so a second open in
	// the same process stands in for another process.
	if _, err := TryLock(p); !errors.Is(err, ErrLocked) {
		t.Fatalf("TryLock on held lock: err = %v, want ErrLocked", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := LockFileContext(ctx, p); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("LockFileContext on held lock: err = %v, want deadline", err)
	}

	got := make(chan error, 1)
	go func() {
		l2, err := LockFile(p)
		if err == nil {
			err = l2.Unlock()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("LockFile returned while lock held: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatalf("second Unlock: %v", err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("LockFile did not return after Unlock")
	}
	l3, err := TryLock(p)
	if err != nil {
		t.Fatalf("TryLock on free lock: %v", err)
	}
	if err := l3.Unlock(); err != nil {
		t.Fatal(err)
	}
}
