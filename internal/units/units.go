// Package units reads and writes byte sizes: the one parser behind every
// size flag (--memory, --max-layer-size, --max-archive-size,
// --keep-storage) and the one formatter behind every size the builder
// prints.
package units

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// binary lists the units FormatBytes writes, each 1024 times the one
// before; the largest is the largest ParseBytes reads.
var binary = [...]string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}

// FormatBytes writes n bytes without a space between number and unit.
// When the largest binary unit that divides n exactly gives a count of at
// most four digits, n is written exactly in that unit ("64MiB", "1536MiB",
// "1000B"), a form ParseBytes reads back as n. Otherwise n is rounded to
// one decimal in the largest unit not above it ("11.8MiB").
func FormatBytes(n int64) string {
	if n < 0 {
		if n == math.MinInt64 {
			return "-8192PiB"
		}
		return "-" + FormatBytes(-n)
	}
	count, i := n, 0
	for i < len(binary)-1 && count != 0 && count%1024 == 0 {
		count /= 1024
		i++
	}
	if count < 10000 {
		return strconv.FormatInt(count, 10) + binary[i]
	}
	f, i := float64(n), 0
	for i < len(binary)-1 && f >= 1024 {
		f /= 1024
		i++
	}
	return strconv.FormatFloat(f, 'f', 1, 64) + binary[i]
}

// ParseBytes reads a size as docker's --memory does: a number, possibly
// with a fraction, followed by an optional binary unit (b, k, m, g, t or
// p, in either case, optionally followed by "b" or "ib"): "512m", "2g",
// "1.5GiB", "1048576". Spaces around the number are allowed. Negative
// numbers are refused; zero is returned as 0 and left for the caller to
// interpret.
func ParseBytes(s string) (int64, error) {
	num, mult, ok := splitUnit(strings.TrimSpace(s))
	if !ok || !IsDecimal(num) {
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

// IsDecimal reports whether s is digits with at most one fractional part
// ("1", "1.5"; not ".5", "1.", "1e3" or "-1"), the numbers size and CPU
// flags accept.
func IsDecimal(s string) bool {
	intPart, frac, hasFrac := strings.Cut(s, ".")
	if intPart == "" || strings.Trim(intPart, "0123456789") != "" {
		return false
	}
	return !hasFrac || frac != "" && strings.Trim(frac, "0123456789") == ""
}
