package cgroup

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ocibuilder/builder/internal/units"
)

// ParseCPUs parses a CPU count as docker's --cpus does: a decimal number
// such as "1.5" or "0.25". Zero means no limit.
func ParseCPUs(s string) (float64, error) {
	t := strings.TrimSpace(s)
	if !units.IsDecimal(t) {
		return 0, fmt.Errorf("CPU count %q: want a decimal number (1.5)", s)
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil {
		return 0, fmt.Errorf("CPU count %q: %w", s, err)
	}
	if l := (Limits{CPUs: f}); f != 0 {
		if err := l.Validate(); err != nil {
			return 0, fmt.Errorf("CPU count %q: %w", s, err)
		}
	}
	return f, nil
}
