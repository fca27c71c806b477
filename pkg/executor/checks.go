package executor

import (
	"slices"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/ocibuilder/builder/pkg/parser"
)

// expandChecked expands a step with the stage's variables and runs the
// build check of expansion, UndefinedVar, reporting its findings.
func (b *builder) expandChecked(ss *stageState, step *parser.Step, sr *stepRun) (instructions.Command, error) {
	cmd, ws, err := step.ExpandChecked(stageEnv{ss}, ss.declared)
	if err != nil {
		return nil, err
	}
	if err := b.reportChecks(sr, ws); err != nil {
		return nil, err
	}
	return cmd, nil
}

// reportChecks sends the findings of build checks run during the build to
// the progress sink as warnings of the step; when the Dockerfile's check
// configuration says error=true they fail it instead of letting it run.
func (b *builder) reportChecks(sr *stepRun, ws []parser.Warning) error {
	for i := range ws {
		sr.p.Event(Event{Kind: StepWarning, ID: sr.id, Name: sr.name, Loc: ws[i].Loc, Warning: &ws[i]})
	}
	return b.graph.CheckFailure(ws)
}

// declared reports whether the stage (or the stage it is built on)
// declared an ARG of that name, with or without a value.
func (s *stageState) declared(name string) bool {
	return slices.ContainsFunc(s.args, func(a stageArg) bool { return a.name == name })
}
