package parser

import (
	"slices"
	"sort"
	"strings"

	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/buildkit/util/suggest"
)

// fromChecker runs the build checks BuildKit applies to FROM lines:
// UndefinedArgInFrom, RedundantTargetPlatform and
// FromPlatformFlagConstDisallowed.
type fromChecker struct {
	lint *linter.Linter
	// keys are the variables a FROM line may use: every global ARG,
	// with or without a value, and the automatic platform arguments.
	keys []string
}

func newFromChecker(g *Graph, metaArgs []metaArg, lint *linter.Linter) *fromChecker {
	keys := g.globals.Keys()
	for _, m := range metaArgs {
		for _, kv := range m.cmd.Args {
			if !slices.Contains(keys, kv.Key) {
				keys = append(keys, kv.Key)
			}
		}
	}
	return &fromChecker{lint: lint, keys: keys}
}

// stageLinter is the linter for the FROM line of s: a `# check=` comment
// right above it adds to the file's configuration.
func (fc *fromChecker) stageLinter(s *Stage) *linter.Linter {
	return fc.lint.WithMergedConfigFromComments(s.comments)
}

// undefinedArgs reports the variables of a FROM word that no global ARG
// declares (UndefinedArgInFrom), suggesting a close name.
func (fc *fromChecker) undefinedArgs(lint *linter.Linter, s *Stage, unmatched map[string]struct{}) {
	for _, name := range sortedNames(unmatched) {
		if slices.Contains(fc.keys, name) {
			continue
		}
		match, _ := suggest.Search(name, fc.keys, true)
		lint.Run(&linter.RuleUndefinedArgInFrom, s.Loc.ranges(), linter.RuleUndefinedArgInFrom.Format(name, match))
	}
}

// platform reports a FROM --platform that only repeats the default
// ($TARGETPLATFORM, RedundantTargetPlatform) or is a constant the stage
// name does not mention (FromPlatformFlagConstDisallowed). r is the
// expansion of the flag with env, the variables FROM lines see.
func (fc *fromChecker) platform(lint *linter.Linter, s *Stage, r shell.ProcessWordResult, env shell.EnvGetter) {
	const targetPlatform = "TARGETPLATFORM"
	if _, ok := r.Matched[targetPlatform]; ok && len(r.Matched) == 1 && len(r.Unmatched) == 0 {
		if v, _ := env.Get(targetPlatform); v == r.Result {
			lint.Run(&linter.RuleRedundantTargetPlatform, s.Loc.ranges(), linter.RuleRedundantTargetPlatform.Format(s.rawPlatform))
		}
	}
	if len(r.Matched) > 0 || len(r.Unmatched) > 0 {
		return
	}
	p, err := platforms.Parse(r.Result)
	if err != nil || strings.Contains(s.Name, p.OS) || strings.Contains(s.Name, p.Architecture) {
		return
	}
	lint.Run(&linter.RuleFromPlatformFlagConstDisallowed, s.Loc.ranges(), linter.RuleFromPlatformFlagConstDisallowed.Format(r.Result))
}

// checkDefaultBaseNames reports FROM lines whose base name is not a valid
// image reference when no build argument is given, only the defaults of
// the global ARGs (InvalidDefaultArgInFrom). Like BuildKit it gives up
// silently when the defaults cannot be evaluated.
func checkDefaultBaseNames(g *Graph, o Options, target string, metaArgs []metaArg, lint *linter.Linter) {
	lex := shell.NewLex(g.Escape)
	env := predefinedArgs(o, target)
	if err := resolveMetaArgs(env, lex, metaArgs, nil); err != nil {
		return
	}
	for _, s := range g.Stages {
		base, err := ExpandWord(lex, s.rawBase, env)
		if err != nil {
			return
		}
		if _, err := reference.ParseNormalizedNamed(base); err != nil {
			lint.Run(&linter.RuleInvalidDefaultArgInFrom, s.Loc.ranges(), linter.RuleInvalidDefaultArgInFrom.Format(s.rawBase))
		}
	}
}

// sortedNames returns the keys of a set in order, so that findings come
// out the same way every time.
func sortedNames(set map[string]struct{}) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
