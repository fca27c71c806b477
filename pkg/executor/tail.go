package executor

import (
	"bytes"
	"io"
)

// tailWriter passes output on and keeps its last lines for error reports.
type tailWriter struct {
	w       io.Writer
	max     int
	partial []byte
	tail    []string
}

func newTailWriter(w io.Writer, max int) *tailWriter { return &tailWriter{w: w, max: max} }

// Write passes p on, ignoring the log's errors: a failing log must not
// fail the step.
func (t *tailWriter) Write(p []byte) (int, error) {
	if t.w != nil {
		t.w.Write(p)
	}
	t.partial = append(t.partial, p...)
	for {
		// bytes, not a string conversion: that would copy the rest
		// of the buffer once per line.
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			break
		}
		t.add(string(t.partial[:i]))
		t.partial = t.partial[i+1:]
	}
	if len(t.partial) > 4096 {
		t.add(string(t.partial))
		t.partial = nil
	}
	return len(p), nil
}

func (t *tailWriter) add(line string) {
	const maxLine = 512
	if len(line) > maxLine {
		line = line[:maxLine] + "…"
	}
	t.tail = append(t.tail, line)
	if len(t.tail) > t.max {
		t.tail = t.tail[len(t.tail)-t.max:]
	}
}

func (t *tailWriter) lines() []string {
	out := append([]string{}, t.tail...)
	if len(t.partial) > 0 {
		out = append(out, string(t.partial))
	}
	if len(out) > t.max {
		out = out[len(out)-t.max:]
	}
	return out
}
