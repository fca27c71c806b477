package executor_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/ocibuilder/builder/internal/testutil"
	"github.com/ocibuilder/builder/pkg/executor"
	"github.com/ocibuilder/builder/pkg/parser"
)

// checkLog records the build-check findings and the output of a build.
type checkLog struct {
	mu       sync.Mutex
	findings []string
	logs     strings.Builder
}

func (l *checkLog) progress() executor.Progress {
	return executor.FuncProgress(func(e executor.Event) {
		l.mu.Lock()
		defer l.mu.Unlock()
		switch e.Kind {
		case executor.StepWarning:
			w := e.Warning
			l.findings = append(l.findings, fmt.Sprintf("%s@%d: %s", w.Rule, w.Loc.Line, w.Detail))
		case executor.StepLog:
			l.logs.Write(e.Data)
		}
	})
}

// TestBuildRunsUndefinedVar: a build checks every expansion against the
// stage's real variables, the base image's included, and reports what it
// lacks as StepWarning events; ARGs declared without a value count as
// defined.
func TestBuildRunsUndefinedVar(t *testing.T) {
	s := spec{
		dockerfile: "FROM base\nARG DECL\nENV SET=1\nWORKDIR /w${PATH:+$SET}$DECL$NOPE\nCOPY a.txt ./\n",
		base:       busyboxBase(t),
		context:    []testutil.Entry{file("a.txt", "A")},
	}
	o := s.options(t)
	var l checkLog
	o.Progress = l.progress()
	r, err := tryBuild(t, s, o)
	if err != nil {
		t.Fatal(err)
	}
	r.wantFile(t, "/w1/a.txt", "A")
	want := "UndefinedVar@4: Usage of undefined variable '$NOPE'"
	if got := strings.Join(l.findings, "\n"); got != want {
		t.Errorf("findings:\n%s\nwant:\n%s", got, want)
	}
}

// TestBuildCheckErrorStopsStep: with `# check=error=true` a finding of the
// build fails its step before the step runs, naming the rule and the line.
func TestBuildCheckErrorStopsStep(t *testing.T) {
	s := spec{
		dockerfile: "# check=error=true\nFROM base\nRUN --mount=type=tmpfs,target=/t$NOPE echo ran-the-step\n",
		base:       busyboxBase(t),
	}
	o := s.options(t)
	var l checkLog
	o.Progress = l.progress()
	_, err := tryBuild(t, s, o)
	var pe *parser.Error
	var ce *parser.CheckError
	if !errors.As(err, &pe) || !errors.As(err, &ce) {
		t.Fatalf("error %v (%T), want a located *parser.CheckError", err, err)
	}
	if want := "Dockerfile:3: lint violation found for rules: UndefinedVar"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if len(l.findings) != 1 {
		t.Errorf("findings %q, want the UndefinedVar one", l.findings)
	}
	if strings.Contains(l.logs.String(), "ran-the-step") {
		t.Errorf("the step ran despite error=true:\n%s", l.logs.String())
	}
}
