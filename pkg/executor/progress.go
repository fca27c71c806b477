package executor

import (
	"time"

	"github.com/ocibuilder/builder/pkg/parser"
)

// Progress receives build events. Implementations must be safe for use by
// several goroutines. A nil Progress in Options discards events.
type Progress interface {
	Event(Event)
}

// EventKind says what an Event reports.
type EventKind uint8

const (
	// StepStarted: a step (or a stage's base resolution) began.
	StepStarted EventKind = iota + 1
	// StepDone: it finished successfully.
	StepDone
	// StepFailed: it failed; Event.Err says why.
	StepFailed
	// StepLog: output of a step, in Event.Data.
	StepLog
	// StepCached: the step's result came from the step cache; it does
	// not run.
	StepCached
	// StepCacheMiss: the step runs; Event.Reason says why its cached
	// result could not be used, compared with its most recent build.
	StepCacheMiss
	// StepWarning: a build check that needs the build (UndefinedVar)
	// found a problem in the step; Event.Warning holds it. The parser's
	// own findings are in parser.Graph.Warnings.
	StepWarning
)

// Event is one progress report.
type Event struct {
	Kind EventKind
	// ID numbers the vertex, from 1, in the order steps start.
	ID int
	// Name is the display name: "[stage 2/5] COPY a /b" or "[stage] FROM x".
	Name string
	// Loc is where the step is in the Dockerfile (zero for internal steps).
	Loc parser.Location
	// Duration is set for StepDone and StepFailed.
	Duration time.Duration
	Err      error
	Data     []byte
	// Reason is set for StepCacheMiss: one line such as "files changed:
	// src/main.go (modified)" or "build arg V changed: \"1\" → \"2\"".
	Reason string
	// Warning is set for StepWarning.
	Warning *parser.Warning
}

// FuncProgress adapts a function to Progress.
type FuncProgress func(Event)

// Event calls f(e).
func (f FuncProgress) Event(e Event) { f(e) }

type nopProgress struct{}

func (nopProgress) Event(Event) {}
