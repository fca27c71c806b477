package parser

import (
	"fmt"
	"strings"
)

// checkCycles rejects stage graphs where a stage needs itself, directly or
// through other stages. The error names every reference on the cycle.
func checkCycles(stages []*Stage) error {
	const (
		unvisited = iota
		active
		done
	)
	state := map[*Stage]int{}
	type hop struct {
		from *Stage
		e    edge
	}
	var path []hop
	var cycle []hop
	var visit func(s *Stage) bool
	visit = func(s *Stage) bool {
		state[s] = active
		for _, e := range s.edges {
			path = append(path, hop{from: s, e: e})
			switch state[e.to] {
			case active:
				// The cycle starts where e.to was entered.
				start := 0
				for i, h := range path {
					if h.from == e.to {
						start = i
						break
					}
				}
				cycle = append(cycle, path[start:]...)
				return true
			case unvisited:
				if visit(e.to) {
					return true
				}
			}
			path = path[:len(path)-1]
		}
		state[s] = done
		return false
	}
	for _, s := range stages {
		if state[s] != unvisited {
			continue
		}
		if visit(s) {
			parts := make([]string, len(cycle))
			for i, h := range cycle {
				parts[i] = fmt.Sprintf("%s needs %s at %s", h.from.displayName(), h.e.to.displayName(), h.e.loc)
			}
			return &Error{
				Loc: cycle[0].e.loc,
				Err: fmt.Errorf("circular dependency between stages: %s", strings.Join(parts, ", ")),
			}
		}
	}
	return nil
}
