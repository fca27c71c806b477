package layer

import (
	"fmt"

	"github.com/ocibuilder/builder/internal/units"
)

// SizeLimitError reports an archive whose uncompressed content exceeds
// ApplyOptions.MaxSize. Callers branch on it to tell a decompression bomb
// (or a limit set too low) from a broken archive.
type SizeLimitError struct {
	// Limit is the ApplyOptions.MaxSize that was exceeded.
	Limit int64
}

// Error names the limit that was exceeded.
func (e *SizeLimitError) Error() string {
	return fmt.Sprintf("uncompressed size exceeds the limit of %s", units.FormatBytes(e.Limit))
}

// sizeBudget counts the bytes an Apply call has accepted against its
// limit.
type sizeBudget struct {
	limit int64 // 0 means no limit
	used  int64
}

// take charges n bytes and fails once the total passes the limit.
func (b *sizeBudget) take(n int64) error {
	if b.limit <= 0 {
		return nil
	}
	if n > b.limit-b.used {
		b.used = b.limit
		return &SizeLimitError{Limit: b.limit}
	}
	b.used += n
	return nil
}
