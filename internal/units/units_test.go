package units

import (
	"math"
	"strconv"
	"testing"
)

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"0", 0, false},
		{"1048576", 1 << 20, false},
		{"512m", 512 << 20, false},
		{"512M", 512 << 20, false},
		{"512mb", 512 << 20, false},
		{"512MiB", 512 << 20, false},
		{"2g", 2 << 30, false},
		{"1.5g", 3 << 29, false},
		{"64k", 64 << 10, false},
		{"1t", 1 << 40, false},
		{"1p", 1 << 50, false},
		{"100b", 100, false},
		{"100 m", 100 << 20, false},
		{" 64m ", 64 << 20, false},
		{"", 0, true},
		{"m", 0, true},
		{"-1m", 0, true},
		{"1x", 0, true},
		{"5ib", 0, true},
		{"1.m", 0, true},
		{".5m", 0, true},
		{"1.2.3m", 0, true},
		{"1e3m", 0, true},
		{"0x10", 0, true},
		{"99999999999p", 0, true},
		{"NaN", 0, true},
		{"inf", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseBytes(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ParseBytes(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0B"},
		{100, "100B"},
		{1000, "1000B"},
		{1536, "1536B"},
		{2048, "2KiB"},
		{64 << 20, "64MiB"},
		{512 << 20, "512MiB"},
		{3 << 29, "1536MiB"},
		{1 << 30, "1GiB"},
		{16 << 30, "16GiB"},
		{1 << 40, "1TiB"},
		{1 << 50, "1PiB"},
		{1 << 60, "1024PiB"},
		{9999, "9999B"},
		{10000, "9.8KiB"},
		{12345678, "11.8MiB"},
		{5<<30 + 1, "5.0GiB"},
		{math.MaxInt64, "8192.0PiB"},
		{-5, "-5B"},
		{-(64 << 20), "-64MiB"},
		{math.MinInt64, "-8192PiB"},
	}
	for _, tt := range tests {
		if got := FormatBytes(tt.in); got != tt.want {
			t.Errorf("FormatBytes(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestFormatBytesParsesBack checks the promise size flags rely on: an
// exact form reads back as the same number of bytes.
func TestFormatBytesParsesBack(t *testing.T) {
	for _, n := range []int64{0, 1, 1000, 1536, 64 << 20, 3 << 29, 1 << 30, 16 << 30, 9999 << 40} {
		s := FormatBytes(n)
		if back, err := ParseBytes(s); err != nil || back != n {
			t.Errorf("ParseBytes(FormatBytes(%d) = %q) = %d, %v", n, s, back, err)
		}
	}
}

func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"512m", "1.5GiB", "0", "100 b", "5ib", "9223372036854775807", "1e9", "-0", "1..5m", "\x00m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseBytes(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("ParseBytes(%q) = %d, negative", s, n)
		}
		// A whole number of bytes reads back as itself.
		if back, err := ParseBytes(strconv.FormatInt(n, 10)); err != nil || back != n {
			t.Fatalf("ParseBytes(%q) = %d, which parses back as %d, %v", s, n, back, err)
		}
		// The formatted size is a size the parser accepts.
		if _, err := ParseBytes(FormatBytes(n)); err != nil {
			t.Fatalf("FormatBytes(%d) = %q, which ParseBytes refuses: %v", n, FormatBytes(n), err)
		}
	})
}
