package executor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ocibuilder/builder/pkg/parser"
)

// run reports a step to the progress sink around fn; what fn writes to
// sr goes out as the step's output. sid identifies the step across builds.
func (b *builder) run(name string, loc parser.Location, sid string, fn func(sr *stepRun) error) error {
	id := int(b.nextID.Add(1))
	start := time.Now()
	b.opts.Progress.Event(Event{Kind: StepStarted, ID: id, Name: name, Loc: loc})
	err := fn(&stepRun{stepLog: stepLog{p: b.opts.Progress, id: id, name: name}, sid: sid})
	ev := Event{Kind: StepDone, ID: id, Name: name, Loc: loc, Duration: time.Since(start)}
	if err != nil {
		ev.Kind, ev.Err = StepFailed, err
	}
	b.opts.Progress.Event(ev)
	return err
}

// stepLog sends a step's output to the progress sink.
type stepLog struct {
	p    Progress
	id   int
	name string
}

func (l stepLog) Write(data []byte) (int, error) {
	l.p.Event(Event{Kind: StepLog, ID: l.id, Name: l.name, Data: append([]byte(nil), data...)})
	return len(data), nil
}

// stepError locates err at a Dockerfile step unless it already is.
func stepError(loc parser.Location, err error) error {
	var pe *parser.Error
	var se *StepError
	if errors.As(err, &pe) || errors.As(err, &se) || errors.Is(err, context.Canceled) {
		return err
	}
	return &parser.Error{Loc: loc, Err: err}
}

func stageLabel(s *parser.Stage) string {
	if s.Name != "" {
		return s.Name
	}
	return fmt.Sprintf("stage-%d", s.Index)
}

func fromText(s *parser.Stage) string {
	switch {
	case s.From.Scratch:
		return "scratch"
	case s.From.Stage != nil:
		return stageLabel(s.From.Stage)
	}
	return s.From.Image
}

// oneLine shortens an instruction for display.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

// stepRun is one step being run: its progress vertex, where its output
// goes, and its identity across builds for cache-miss explanations.
type stepRun struct {
	stepLog
	sid string
}

func (r *stepRun) event(kind EventKind, reason string) {
	r.p.Event(Event{Kind: kind, ID: r.id, Name: r.name, Reason: reason})
}

// historyText is the created_by of a step's history entry: the
// instruction on one line, continuations joined.
func historyText(step *parser.Step) string {
	return strings.Join(strings.Fields(step.Text), " ")
}
