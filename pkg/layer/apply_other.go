//go:build !linux

package layer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
)

// Apply extracts a layer onto root. It needs Linux: the extraction keeps
// every path inside root with openat2 and creates device nodes, whiteouts
// and overlay xattrs as Linux does. Elsewhere it fails with an error
// wrapping errors.ErrUnsupported and changes nothing.
func Apply(ctx context.Context, root string, r io.Reader, o ApplyOptions) (int64, error) {
	return 0, fmt.Errorf("applying a layer to %s: %w on %s (Linux only)", root, errors.ErrUnsupported, runtime.GOOS)
}
