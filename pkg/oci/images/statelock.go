package images

import (
	"context"
	"fmt"

	"github.com/ocibuilder/builder/internal/fsutil"
)

// LockShared takes the shared state-directory lock of root, waiting while
// a Prune runs. A build holds it from the moment it may write blobs or
// layer directories until it has tagged its result, so that Prune never
// removes content that is about to be named. Any number of holders may
// share it. The kernel releases it if the holder dies.
func LockShared(ctx context.Context, root string) (unlock func() error, err error) {
	return lockState(ctx, root, false)
}

// LockExclusive takes the state-directory lock of root exclusively,
// waiting for every shared holder to finish. Prune takes it itself.
func LockExclusive(ctx context.Context, root string) (unlock func() error, err error) {
	return lockState(ctx, root, true)
}

func lockState(ctx context.Context, root string, exclusive bool) (func() error, error) {
	l, err := fsutil.LockState(ctx, root, exclusive)
	if err != nil {
		return nil, fmt.Errorf("locking state directory %s: %w", root, err)
	}
	return l.Unlock, nil
}
