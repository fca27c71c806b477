package executor

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestTailWriter checks the output tail a failed RUN step reports and that
// the output still reaches the step log unchanged.
func TestTailWriter(t *testing.T) {
	long := strings.Repeat("x", 5000)
	tests := []struct {
		name   string
		writes []string
		max    int
		want   []string
	}{
		{name: "nothing", max: 3},
		{name: "lines split across writes", writes: []string{"a", "b\nc", "\nd\n"}, max: 5, want: []string{"ab", "c", "d"}},
		{name: "last lines only", writes: []string{"1\n2\n3\n4\n5\n"}, max: 2, want: []string{"4", "5"}},
		{name: "unterminated last line", writes: []string{"1\n2\n3"}, max: 2, want: []string{"2", "3"}},
		{name: "empty lines count", writes: []string{"a\n\n\n"}, max: 2, want: []string{"", ""}},
		{name: "a long unterminated line becomes a shortened line", writes: []string{long}, max: 3, want: []string{long[:512] + "…"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log bytes.Buffer
			w := newTailWriter(&log, tt.max)
			for _, s := range tt.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", s, n, err)
				}
			}
			if got := w.lines(); !slices.Equal(got, tt.want) {
				t.Errorf("lines() = %q, want %q", got, tt.want)
			}
			if got, want := log.String(), strings.Join(tt.writes, ""); got != want {
				t.Errorf("log got %q, want %q", got, want)
			}
		})
	}
}

// TestTailWriterLargeOutput guards against work per line that grows with
// the size of a write: a step printing megabytes in one read must not
// stall the build.
func TestTailWriterLargeOutput(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789 0123456789 0123456789 0123456789\n"), 100000)
	w := newTailWriter(nil, 20)
	start := time.Now()
	w.Write(data)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("tailing %d bytes took %v", len(data), d)
	}
	if got := w.lines(); len(got) != 20 || got[19] != "0123456789 0123456789 0123456789 0123456789" {
		t.Errorf("lines() = %q", got)
	}
}
