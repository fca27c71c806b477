package parser

import (
	"sync"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// TestConcurrentUse runs the read paths an executor may call from parallel
// stage builds; run with -race to make it meaningful.
func TestConcurrentUse(t *testing.T) {
	g := mustParse(t, "ARG G=g\nFROM a AS one\nARG G V=1\nCOPY --chown=$V x /$G\nFROM a\nARG V\nRUN --mount=type=cache,target=/$V true\n",
		Options{BuildArgs: map[string]string{"V": "cli"}})
	var wg sync.WaitGroup
	for range 8 {
		for _, s := range g.Stages {
			wg.Go(func() {
				env := newScopeEnv()
				for _, st := range s.Steps {
					if _, err := env.apply(st); err != nil {
						t.Error(err)
					}
				}
				g.StageArg("G")
				g.UnconsumedBuildArgs()
			})
		}
	}
	wg.Wait()
	cmd, err := g.Stages[0].Steps[1].Expand(mapEnv{"V": "cli", "G": "g"})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, cmd.(*instructions.CopyCommand).DestPath, "/g")
}
