package images

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ocibuilder/builder/internal/fsutil"
)

// stateLockName is the lock file that keeps Prune and builds apart.
const stateLockName = "state.lock"

// LockShared takes the shared state-directory lock of root, waiting while
// a Prune runs. A build holds it from the moment it may write blobs or
// layer directories until it has tagged its result, so that Prune never
// removes content that is about to be named. Any number of holders may
// share it. The kernel releases it if the holder dies.
func LockShared(ctx context.Context, root string) (unlock func() error, err error) {
	return lockState(ctx, root, fsutil.LockFileSharedContext)
}

// LockExclusive takes the state-directory lock of root exclusively,
// waiting for every shared holder to finish. Prune takes it itself.
func LockExclusive(ctx context.Context, root string) (unlock func() error, err error) {
	return lockState(ctx, root, fsutil.LockFileContext)
}

func lockState(ctx context.Context, root string, lock func(context.Context, string) (*fsutil.Lock, error)) (func() error, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("creating state directory %s: %w", root, err)
	}
	l, err := lock(ctx, filepath.Join(root, stateLockName))
	if err != nil {
		return nil, fmt.Errorf("locking state directory %s: %w", root, err)
	}
	return l.Unlock, nil
}
