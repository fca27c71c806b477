package parser

import (
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

func TestInputQuirks(t *testing.T) {
	tests := []struct {
		name     string
		df       string
		wantUser string
		wantLine int
	}{
		{name: "crlf line endings", df: "FROM a\r\nRUN x \\\r\n  y\r\nUSER me\r\n", wantUser: "me", wantLine: 4},
		{name: "byte order mark", df: "\xEF\xBB\xBFFROM a\nUSER me\n", wantUser: "me", wantLine: 2},
		{name: "byte order mark before directive", df: "\xEF\xBB\xBF# escape=`\nFROM a\nUSER `\n me\n", wantUser: "me", wantLine: 3},
		{name: "indented instructions", df: "  FROM a\n\t\tUSER me\n", wantUser: "me", wantLine: 2},
		{name: "no trailing newline", df: "FROM a\nUSER me", wantUser: "me", wantLine: 2},
		{name: "blank lines and comments", df: "\n\n# c\nFROM a\n\n   # indented comment\nUSER me\n\n", wantUser: "me", wantLine: 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := mustParse(t, tt.df, Options{})
			steps := g.Stages[0].Steps
			last := steps[len(steps)-1]
			eq(t, last.Cmd.(*instructions.UserCommand).User, tt.wantUser)
			eq(t, last.Loc.Line, tt.wantLine)
		})
	}
}

func TestOverlayEnv(t *testing.T) {
	top := newArgEnv()
	top.set("B", "top")
	top.set("C", "c")
	env := overlayEnv{top: top, base: mapEnv{"B": "base"}}
	v, _ := env.Get("B")
	eq(t, v, "top")
	eq(t, env.Keys(), []string{"B", "C"})
	env = overlayEnv{top: newArgEnv(), base: mapEnv{"A": "a"}}
	v, ok := env.Get("A")
	eq(t, v, "a")
	eq(t, ok, true)
	eq(t, env.Keys(), []string{"A"})
}
