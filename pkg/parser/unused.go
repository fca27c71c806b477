package parser

import (
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// unusedBuildArgWarnings marks as consumed every build argument an ARG
// declares before the first FROM or inside a stage the target needs, and
// warns about the rest, in sorted order.
func unusedBuildArgWarnings(g *Graph, metaArgs []metaArg) []Warning {
	declare := func(a *instructions.ArgCommand) {
		for _, kv := range a.Args {
			if _, ok := g.buildArgs[kv.Key]; ok {
				g.consumed[kv.Key] = true
			}
		}
	}
	for _, m := range metaArgs {
		declare(m.cmd)
	}
	for _, s := range g.Needed() {
		for _, st := range s.Steps {
			if a, ok := st.Cmd.(*instructions.ArgCommand); ok {
				declare(a)
			}
		}
	}
	var out []Warning
	for _, name := range g.UnconsumedBuildArgs() {
		out = append(out, Warning{
			Loc:     Location{File: g.file},
			Message: "build arg " + name + " was not consumed",
		})
	}
	return out
}
