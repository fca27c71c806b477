package parser

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	bkparser "github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
)

// ErrNoStages reports a Dockerfile without any FROM instruction.
var ErrNoStages = errors.New("no build stages")

// Parse reads a Dockerfile and builds its stage graph. Words in the steps are
// left unexpanded (see Step.Expand); FROM lines are expanded with the global
// ARGs and build arguments. The build checks that need no build run on the
// way (see Graph.Warnings); with error=true in the check configuration a
// finding fails the parse with a *CheckError. Every error returned is an
// *Error.
func Parse(r io.Reader, o Options) (*Graph, error) {
	o = o.withDefaults()
	file := o.Filename
	dt, err := io.ReadAll(r)
	if err != nil {
		return nil, &Error{Loc: Location{File: file}, Err: fmt.Errorf("reading %s: %w", file, err)}
	}
	if err := checkLineLengths(dt, file); err != nil {
		return nil, err
	}
	dirs, err := scanDirectives(dt, file)
	if err != nil {
		return nil, err
	}
	cfg, err := resolveCheckConfig(file, o.BuildArgs, dirs.check, dirs.checkLoc)
	if err != nil {
		return nil, err
	}
	lc := &lintCollector{file: file}
	lint := lc.newLinter(cfg)

	res, err := bkparser.Parse(bytes.NewReader(dt))
	if err != nil {
		if isNoInstructions(err) {
			return nil, &Error{Loc: Location{File: file}, Err: ErrNoStages}
		}
		return nil, locate(file, err, Location{File: file})
	}
	for _, w := range res.Warnings {
		if w.URL == linter.RuleNoEmptyContinuation.URL && w.Location != nil {
			lint.Run(&linter.RuleNoEmptyContinuation, []bkparser.Range{*w.Location}, linter.RuleNoEmptyContinuation.Format())
		}
	}

	g := &Graph{
		Escape:    res.EscapeToken,
		Syntax:    dirs.syntax,
		Check:     cfg,
		file:      file,
		buildArgs: o.BuildArgs,
		consumed:  map[string]bool{},
	}
	metaArgs, err := collectStages(g, res.AST, lint)
	if err != nil {
		return nil, err
	}
	checkInstructionCasing(g, lint)
	if err := resolveStages(g, o, metaArgs, lint); err != nil {
		return nil, err
	}
	checkDispatch(g, lint, o.CheckAllStages, ignoreMatcher(o.Ignore))
	sortWarnings(lc.warnings)
	if err := checkFailure(cfg, lc.warnings); err != nil {
		return nil, err
	}
	g.Warnings = append(lc.warnings, unusedBuildArgWarnings(g, metaArgs)...)
	return g, nil
}

// ignoreMatcher compiles .dockerignore patterns for CopyIgnoredFile; nil
// when there are none or they do not compile (the build reports those).
func ignoreMatcher(patterns []string) *patternmatcher.PatternMatcher {
	if len(patterns) == 0 {
		return nil
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil
	}
	return pm
}

// isNoInstructions recognises BuildKit's error for a file that holds only
// comments and blank lines; it has no exported sentinel.
func isNoInstructions(err error) bool {
	return strings.HasSuffix(err.Error(), "file with no instructions")
}

// collectStages converts the AST into typed stages and steps. ARGs before the
// first FROM are returned separately since they are not part of any stage.
func collectStages(g *Graph, ast *bkparser.Node, lint *linter.Linter) ([]metaArg, error) {
	var metaArgs []metaArg
	var cur *Stage
	for _, node := range ast.Children {
		loc := Location{File: g.file, Line: node.StartLine, EndLine: node.EndLine}
		v, err := parseNode(node, lint)
		if err != nil {
			return nil, locate(g.file, err, loc)
		}
		switch c := v.(type) {
		case *instructions.Stage:
			cur = &Stage{
				Index:       len(g.Stages),
				Name:        c.Name,
				Loc:         loc,
				graph:       g,
				rawBase:     c.BaseName,
				rawPlatform: c.Platform,
				origCmd:     c.OrigCmd,
				comments:    c.Comments,
			}
			g.Stages = append(g.Stages, cur)
		case instructions.Command:
			if cur == nil {
				if a, ok := c.(*instructions.ArgCommand); ok {
					metaArgs = append(metaArgs, metaArg{cmd: a, loc: loc})
					continue
				}
				return nil, &Error{Loc: loc, Err: fmt.Errorf("%s before the first FROM: only ARG may precede FROM", strings.ToUpper(node.Value))}
			}
			cur.Steps = append(cur.Steps, &Step{
				Stage: cur,
				Index: len(cur.Steps),
				Cmd:   c,
				Loc:   loc,
				Text:  node.Original,
				node:  node,
			})
		default:
			return nil, &Error{Loc: loc, Err: fmt.Errorf("unexpected instruction type %T", v)}
		}
	}
	if len(g.Stages) == 0 {
		return nil, &Error{Loc: Location{File: g.file}, Err: ErrNoStages}
	}
	return metaArgs, nil
}

// parseNode converts one AST node into a typed instruction. BuildKit's
// instruction parsers index into their arguments freely; a panic there on
// hostile input becomes an error on that line instead of a crash.
func parseNode(node *bkparser.Node, lint *linter.Linter) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("parsing %s: internal parser error: %v", strings.ToUpper(node.Value), r)
		}
	}()
	return instructions.ParseInstructionWithLinter(node, lint)
}
