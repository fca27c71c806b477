package cgroup

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseMemory parses a memory size as docker's --memory does: a number,
// possibly with a fraction, followed by an optional binary unit (b, k, m, g,
// t or p, in either case, optionally followed by "b" or "ib"): "512m",
// "2g", "1.5GiB", "1048576". Zero is allowed and means no limit.
func ParseMemory(s string) (int64, error) {
	num, mult, ok := splitUnit(strings.TrimSpace(s))
	if !ok || !isDecimal(num) {
		return 0, fmt.Errorf("size %q: want a number with an optional unit (512m, 2g)", s)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: %w", s, err)
	}
	v := f * float64(mult)
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	return int64(v), nil
}

// splitUnit separates the number from its unit and returns the unit's
// multiplier; ok is false for a suffix that is no unit.
func splitUnit(s string) (num string, mult int64, ok bool) {
	l := strings.ToLower(s)
	l = strings.TrimSuffix(l, "b")
	hasI := strings.HasSuffix(l, "i")
	l = strings.TrimSuffix(l, "i")
	mult = 1
	if n := len(l); n > 0 {
		if i := strings.IndexByte("kmgtp", l[n-1]); i >= 0 {
			mult = int64(1) << (10 * (i + 1))
			l = l[:n-1]
		} else if hasI {
			return "", 0, false
		}
	}
	return strings.TrimSuffix(l, " "), mult, true
}

// isDecimal reports whether s is digits with at most one fractional part.
func isDecimal(s string) bool {
	intPart, frac, hasFrac := strings.Cut(s, ".")
	if intPart == "" || strings.Trim(intPart, "0123456789") != "" {
		return false
	}
	return !hasFrac || frac != "" && strings.Trim(frac, "0123456789") == ""
}

// ParseCPUs parses a CPU count as docker's --cpus does: a decimal number
// such as "1.5" or "0.25". Zero means no limit.
func ParseCPUs(s string) (float64, error) {
	t := strings.TrimSpace(s)
	if !isDecimal(t) {
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
