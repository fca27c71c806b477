package parser

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// scratchImage is the reserved base name for an empty filesystem.
const scratchImage = "scratch"

// resolveStages evaluates the global ARGs, expands FROM lines, links stage
// references, rejects cycles and picks the target.
func resolveStages(g *Graph, o Options, metaArgs []metaArg, lint *linter.Linter) error {
	targetName := o.Target
	if targetName == "" {
		targetName = g.Stages[len(g.Stages)-1].Name
	}
	checkDefaultBaseNames(g, o, targetName, metaArgs, lint)
	g.globals = predefinedArgs(o, targetName)
	lex := shell.NewLex(g.Escape)
	if err := resolveMetaArgs(g.globals, lex, metaArgs, g.buildArgs); err != nil {
		return err
	}
	fc := newFromChecker(g, metaArgs, lint)

	// A name used twice is a warning, as in BuildKit, and means the
	// stage defined last: FROM sees the last one above it; COPY --from,
	// RUN --mount from= and --target, resolved once every stage is
	// known, see the last one in the file.
	byName := map[string]*Stage{}
	for _, s := range g.Stages {
		if err := resolveFrom(s, lex, byName, fc); err != nil {
			return err
		}
		if s.Name == "" {
			continue
		}
		if s.Name == scratchImage || s.Name == "context" {
			lint.Run(&linter.RuleReservedStageName, s.Loc.ranges(), linter.RuleReservedStageName.Format(s.Name))
		}
		if _, ok := byName[s.Name]; ok {
			lint.Run(&linter.RuleDuplicateStageName, s.Loc.ranges(), linter.RuleDuplicateStageName.Format(s.Name))
		}
		byName[s.Name] = s
	}

	for _, s := range g.Stages {
		for _, st := range s.Steps {
			if err := linkStep(g, st, lex, byName); err != nil {
				return err
			}
		}
	}
	if err := checkCycles(g.Stages); err != nil {
		return err
	}
	return pickTarget(g, o.Target, byName)
}

// resolveFrom expands the FROM line of s with the global ARGs and decides
// whether it builds on scratch, an earlier stage or an image. Only stages
// defined above s count, as in BuildKit. fc checks the line on the way.
func resolveFrom(s *Stage, lex *shell.Lex, earlier map[string]*Stage, fc *fromChecker) error {
	g := s.graph
	lint := fc.stageLinter(s)
	r, err := expandWordResult(lex, s.rawBase, g.globals)
	fc.undefinedArgs(lint, s, r.Unmatched)
	if err != nil {
		return &Error{Loc: s.Loc, Err: fmt.Errorf("expanding base name %q: %w", s.rawBase, err)}
	}
	base := r.Result
	if base == "" {
		return &Error{Loc: s.Loc, Err: fmt.Errorf("base name %q expands to an empty string", s.rawBase)}
	}
	if s.rawPlatform != "" {
		r, err := expandWordResult(lex, s.rawPlatform, g.globals)
		fc.undefinedArgs(lint, s, r.Unmatched)
		fc.platform(lint, s, r, g.globals)
		if err != nil {
			return &Error{Loc: s.Loc, Err: fmt.Errorf("expanding platform %q: %w", s.rawPlatform, err)}
		}
		if r.Result == "" {
			return &Error{Loc: s.Loc, Err: fmt.Errorf("platform %q expands to an empty string", s.rawPlatform)}
		}
		s.Platform = r.Result
	}
	switch dep, ok := earlier[strings.ToLower(base)]; {
	case strings.EqualFold(base, scratchImage):
		s.From = From{Scratch: true}
	case ok:
		s.From = From{Stage: dep}
		s.addDep(dep, s.Loc)
	default:
		s.From = From{Image: base}
	}
	return nil
}

// linkStep resolves the stage references of one step: COPY --from and
// RUN --mount from=.
func linkStep(g *Graph, st *Step, lex *shell.Lex, byName map[string]*Stage) error {
	switch c := st.Cmd.(type) {
	case *instructions.CopyCommand:
		if c.From == "" {
			return nil
		}
		dep, err := copySource(g, c.From, lex, byName)
		if err != nil {
			return &Error{Loc: st.Loc, Err: err}
		}
		if dep == nil {
			st.FromRef = c.From
			return nil
		}
		st.From = dep
		st.Stage.addDep(dep, st.Loc)
	case *instructions.RunCommand:
		if err := checkMounts(st); err != nil {
			return err
		}
		mounts := instructions.GetMounts(c)
		if len(mounts) == 0 {
			return nil
		}
		st.MountStages = make([]*Stage, len(mounts))
		for i, m := range mounts {
			// BuildKit resolves mount sources by stage name only.
			dep, ok := byName[strings.ToLower(m.From)]
			if m.From == "" || !ok {
				continue
			}
			st.MountStages[i] = dep
			if st.From == nil {
				st.From = dep
			}
			st.Stage.addDep(dep, st.Loc)
		}
	}
	return nil
}

// errFromExpansion is BuildKit's rule: --from is matched literally.
var errFromExpansion = errors.New("variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround")

// copySource finds the stage a COPY --from value names, by index or by name.
// It returns nil for an image or build-context reference.
func copySource(g *Graph, from string, lex *shell.Lex, byName map[string]*Stage) (*Stage, error) {
	expanded, _, err := lex.ProcessWord(from, newArgEnv())
	if err != nil {
		return nil, fmt.Errorf("processing --from=%s: %w", from, err)
	}
	if expanded != from {
		return nil, errFromExpansion
	}
	if idx, err := strconv.Atoi(from); err == nil {
		if idx < 0 || idx >= len(g.Stages) {
			return nil, fmt.Errorf("invalid stage index %d", idx)
		}
		return g.Stages[idx], nil
	}
	return byName[strings.ToLower(from)], nil
}

// pickTarget sets g.Target from the --target name, or the last stage.
func pickTarget(g *Graph, target string, byName map[string]*Stage) error {
	if target == "" {
		g.Target = g.Stages[len(g.Stages)-1]
		return nil
	}
	s, ok := byName[strings.ToLower(target)]
	if !ok {
		return &Error{Loc: Location{File: g.file}, Err: &TargetNotFoundError{Name: target}}
	}
	g.Target = s
	return nil
}

// checkMounts validates RUN --mount options now rather than when the step
// runs. BuildKit only parses them fully during expansion, so options holding
// variables are left for Step.Expand to judge.
func checkMounts(st *Step) error {
	for _, f := range st.node.Flags {
		if strings.Contains(f, "$") {
			return nil
		}
	}
	cmd, err := st.reparse()
	if err != nil {
		return err
	}
	run, ok := cmd.(*instructions.RunCommand)
	if !ok {
		return nil
	}
	if err := run.Expand(func(w string) (string, error) { return w, nil }); err != nil {
		return &Error{Loc: st.Loc, Err: err}
	}
	return nil
}
