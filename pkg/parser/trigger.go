package parser

import (
	"errors"
	"fmt"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	bkparser "github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// TriggerSteps parses the ONBUILD triggers of a stage's base image into
// steps that run before the stage's own, located at the stage's FROM line.
// As in docker, a trigger may not be FROM, ONBUILD or MAINTAINER.
func (s *Stage) TriggerSteps(triggers []string) ([]*Step, error) {
	if len(triggers) == 0 {
		return nil, nil
	}
	loc := s.Loc
	res, err := bkparser.Parse(strings.NewReader(strings.Join(triggers, "\n")))
	if err != nil {
		return nil, &Error{Loc: loc, Err: fmt.Errorf("parsing ONBUILD triggers of the base image: %w", err)}
	}
	lint := linter.New(&linter.Config{})
	byName := map[string]*Stage{}
	for _, st := range s.graph.Stages {
		if st.Name != "" {
			byName[st.Name] = st
		}
	}
	var steps []*Step
	for _, node := range res.AST.Children {
		switch strings.ToLower(node.Value) {
		case "from", "onbuild", "maintainer":
			return nil, &Error{Loc: loc, Err: fmt.Errorf("ONBUILD trigger %q: %s is not allowed as a trigger", node.Original, strings.ToUpper(node.Value))}
		}
		v, err := parseNode(node, lint)
		if err != nil {
			return nil, &Error{Loc: loc, Err: fmt.Errorf("ONBUILD trigger %q: %w", node.Original, err)}
		}
		cmd, ok := v.(instructions.Command)
		if !ok {
			return nil, &Error{Loc: loc, Err: errors.New("ONBUILD trigger: unexpected instruction")}
		}
		st := &Step{Stage: s, Index: -1, Cmd: cmd, Loc: loc, Text: node.Original, node: node}
		if err := linkStep(s.graph, st, shell.NewLex(s.graph.Escape), byName); err != nil {
			return nil, err
		}
		steps = append(steps, st)
	}
	return steps, nil
}
