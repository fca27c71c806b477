package parser

import (
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	bkparser "github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
)

// stageFacts is what the checks BuildKit runs while dispatching steps learn
// from earlier steps of a stage, and a stage from the stage it is built on.
type stageFacts struct {
	// shell: a SHELL instruction set the shell CMD and ENTRYPOINT use.
	shell bool
	// workdir: a WORKDIR instruction ran.
	workdir bool
}

// checkDispatch runs the checks BuildKit runs while dispatching steps on
// the stages the target needs, or on every stage when all is set (a check
// of the whole file). The stages the target does not need still pass their
// facts on to the stages built on them.
func checkDispatch(g *Graph, lint *linter.Linter, all bool, ignore *patternmatcher.PatternMatcher) {
	needed := map[*Stage]bool{}
	for _, s := range g.Needed() {
		needed[s] = true
	}
	facts := map[*Stage]stageFacts{}
	for _, s := range g.Stages {
		sc := stageChecker{ignore: ignore}
		if all || needed[s] {
			sc.lint = lint
		}
		if s.From.Stage != nil {
			sc.facts = facts[s.From.Stage]
		}
		for _, st := range s.Steps {
			sc.step(st)
		}
		facts[s] = sc.facts
	}
}

// stageChecker checks the steps of one stage in order.
type stageChecker struct {
	lint   *linter.Linter // nil: only the facts are gathered
	facts  stageFacts
	ignore *patternmatcher.PatternMatcher
	// The last CMD, ENTRYPOINT and HEALTHCHECK of the stage, for
	// MultipleInstructionsDisallowed.
	cmd, entrypoint, healthcheck []bkparser.Range
}

// step runs the checks of one step: JSONArgsRecommended,
// MultipleInstructionsDisallowed, LegacyKeyValueFormat,
// SecretsUsedInArgOrEnv, WorkdirRelativePath, ExposeProtoCasing,
// ExposeInvalidFormat and CopyIgnoredFile.
func (sc *stageChecker) step(st *Step) {
	lint := sc.lint
	if lint != nil {
		lint = lint.WithMergedConfigFromComments(st.node.PrevComment)
	}
	loc := st.Loc.ranges()
	switch c := st.Cmd.(type) {
	case *instructions.EnvCommand:
		for _, kv := range c.Env {
			legacyKeyValue(lint, c.Name(), kv, loc)
			secretKey(lint, "ENV", kv.Key, loc)
		}
	case *instructions.LabelCommand:
		for _, kv := range c.Labels {
			legacyKeyValue(lint, c.Name(), kv, loc)
		}
	case *instructions.ArgCommand:
		for _, kv := range c.Args {
			secretKey(lint, "ARG", kv.Key, loc)
		}
	case *instructions.CmdCommand:
		usedOnce(lint, c.Name(), &sc.cmd, loc)
		sc.jsonArgs(lint, c.Name(), c.PrependShell, loc)
	case *instructions.EntrypointCommand:
		usedOnce(lint, c.Name(), &sc.entrypoint, loc)
		sc.jsonArgs(lint, c.Name(), c.PrependShell, loc)
	case *instructions.HealthCheckCommand:
		usedOnce(lint, c.Name(), &sc.healthcheck, loc)
	case *instructions.ShellCommand:
		sc.facts.shell = len(c.Shell) > 0
	case *instructions.WorkdirCommand:
		if !sc.facts.workdir && isRelativeWorkdir(c.Path) {
			lint.Run(&linter.RuleWorkdirRelativePath, loc, linter.RuleWorkdirRelativePath.Format(c.Path))
		}
		sc.facts.workdir = true
	case *instructions.ExposeCommand:
		for _, p := range c.Ports {
			exposedPort(lint, p, loc)
		}
	case *instructions.CopyCommand:
		if c.From == "" {
			copySources(lint, sc.ignore, "Copy", c.SourcePaths, loc)
		}
	case *instructions.AddCommand:
		copySources(lint, sc.ignore, "Add", c.SourcePaths, loc)
	}
}

// jsonArgs reports a CMD or ENTRYPOINT in shell form while no SHELL
// instruction chose the shell (JSONArgsRecommended). A SHELL in the base
// image's config is not known here; images rarely have one.
func (sc *stageChecker) jsonArgs(lint *linter.Linter, name string, shellForm bool, loc []bkparser.Range) {
	if shellForm && !sc.facts.shell {
		lint.Run(&linter.RuleJSONArgsRecommended, loc, linter.RuleJSONArgsRecommended.Format(name))
	}
}

// usedOnce reports the earlier of two CMD, ENTRYPOINT or HEALTHCHECK
// instructions of a stage, the one that has no effect
// (MultipleInstructionsDisallowed), and remembers loc as the last one.
func usedOnce(lint *linter.Linter, name string, last *[]bkparser.Range, loc []bkparser.Range) {
	if *last != nil {
		lint.Run(&linter.RuleMultipleInstructionsDisallowed, *last, linter.RuleMultipleInstructionsDisallowed.Format(name))
	}
	*last = loc
}

// legacyKeyValue reports `ENV key value` and `LABEL key value`, written
// without "=" (LegacyKeyValueFormat).
func legacyKeyValue(lint *linter.Linter, name string, kv instructions.KeyValuePair, loc []bkparser.Range) {
	if kv.NoDelim {
		lint.Run(&linter.RuleLegacyKeyValueFormat, loc, linter.RuleLegacyKeyValueFormat.Format(name))
	}
}

// isRelativeWorkdir reports whether a WORKDIR path as written is relative.
// A path that starts with a variable may expand to an absolute one, so it
// does not count.
func isRelativeWorkdir(p string) bool {
	return !strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "$")
}
