package parser

import (
	"slices"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/buildkit/util/suggest"
)

// nonEnvArgs are build arguments BuildKit reads itself; they never reach
// the environment and UndefinedVar ignores them.
var nonEnvArgs = []string{"BUILDKIT_SBOM_SCAN_CONTEXT", "BUILDKIT_SBOM_SCAN_STAGE"}

// ExpandChecked is Expand followed by the build check BuildKit runs on every
// expansion, UndefinedVar: one finding for each variable the step reads that
// env does not hold and declared does not name. declared says whether the
// stage declared an ARG of that name, perhaps without a value; nil means
// none was. The findings follow Graph.Check and any `# check=` comment right
// above the step. The check belongs to the build, where env holds the base
// image's variables, which the parser does not know; see
// Graph.CheckFailure for error=true.
func (s *Step) ExpandChecked(env shell.EnvGetter, declared func(name string) bool) (instructions.Command, []Warning, error) {
	if env == nil {
		env = newArgEnv()
	}
	unmatched := varSet{}
	cmd, err := s.expand(env, unmatched)
	if err != nil {
		return nil, nil, err
	}
	lc := &lintCollector{file: s.Loc.File}
	lint := lc.newLinter(s.Stage.graph.Check).WithMergedConfigFromComments(s.node.PrevComment)
	keys := env.Keys()
	for _, name := range sortedNames(unmatched) {
		if (declared != nil && declared(name)) || slices.Contains(nonEnvArgs, name) {
			continue
		}
		match, _ := suggest.Search(name, keys, true)
		lint.Run(&linter.RuleUndefinedVar, s.Loc.ranges(), linter.RuleUndefinedVar.Format(name, match))
	}
	return cmd, lc.warnings, nil
}
