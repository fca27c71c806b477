package parser

import (
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/linter"
	bkparser "github.com/moby/buildkit/frontend/dockerfile/parser"
)

// checkInstructionCasing runs ConsistentInstructionCasing over every FROM
// and instruction of the file, as BuildKit does: each must be all lower or
// all upper case, and in the case most of the file uses (upper case when
// neither wins).
func checkInstructionCasing(g *Graph, lint *linter.Linter) {
	type word struct {
		name string
		loc  []bkparser.Range
	}
	var words []word
	for _, s := range g.Stages {
		words = append(words, word{s.origCmd, s.Loc.ranges()})
		for _, st := range s.Steps {
			words = append(words, word{st.Cmd.Name(), st.Loc.ranges()})
		}
	}
	lower, upper := 0, 0
	for _, w := range words {
		switch w.name {
		case strings.ToLower(w.name):
			lower++
		case strings.ToUpper(w.name):
			upper++
		}
	}
	want, wantName := strings.ToUpper, "uppercase"
	if lower > upper {
		want, wantName = strings.ToLower, "lowercase"
	}
	for _, w := range words {
		if want(w.name) != w.name {
			lint.Run(&linter.RuleConsistentInstructionCasing, w.loc, linter.RuleConsistentInstructionCasing.Format(w.name, wantName))
		}
	}
}
