package main

import (
	"fmt"
	"strings"

	"github.com/ocibuilder/builder/internal/units"
	"github.com/ocibuilder/builder/pkg/executor"
)

// Defaults of --max-archive-size and --max-layer-size, written as the
// flags take them.
var (
	defaultMaxArchiveSize = units.FormatBytes(executor.DefaultMaxArchiveSize)
	defaultMaxLayerSize   = units.FormatBytes(executor.DefaultMaxLayerSize)
)

// parseSizeLimit reads a size flag such as --max-archive-size: a size with
// an optional binary unit ("512m", "2g"), or "0" or "-1" for no limit. The
// result is an executor.Options size field (negative: no limit).
func parseSizeLimit(flag, v string) (int64, error) {
	if s := strings.TrimSpace(v); s == "-1" || s == "0" {
		return -1, nil
	}
	n, err := units.ParseBytes(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", flag, err)
	}
	if n == 0 {
		return -1, nil
	}
	return n, nil
}
