package parser

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// scopeEnv is a minimal stand-in for an executor's per-stage variables: it
// applies ARG and ENV steps in order so expansion can be checked end to end.
// Only ENV values pass on to stages built FROM this one.
type scopeEnv struct {
	*argEnv
	env *argEnv
}

func newScopeEnv() *scopeEnv { return &scopeEnv{argEnv: newArgEnv(), env: newArgEnv()} }

// child starts the variables of a stage built on the one e describes.
func (e *scopeEnv) child() *scopeEnv {
	c := newScopeEnv()
	for _, k := range e.env.Keys() {
		v, _ := e.env.Get(k)
		c.set(k, v)
		c.env.set(k, v)
	}
	return c
}

// apply expands st with the current variables and records what it defines.
func (e *scopeEnv) apply(st *Step) (instructions.Command, error) {
	if _, ok := st.Cmd.(*instructions.ArgCommand); ok {
		args, err := st.ResolveArgs(e)
		if err != nil {
			return nil, err
		}
		for _, kv := range args {
			if kv.Value != nil {
				e.set(kv.Key, *kv.Value)
			}
		}
		return &instructions.ArgCommand{Args: args}, nil
	}
	cmd, err := st.Expand(e)
	if err != nil {
		return nil, err
	}
	if c, ok := cmd.(*instructions.EnvCommand); ok {
		for _, kv := range c.Env {
			e.set(kv.Key, kv.Value)
			e.env.set(kv.Key, kv.Value)
		}
	}
	return cmd, nil
}

// describe renders a command deterministically: its exported fields as JSON
// plus, for an expanded RUN, the mounts, which BuildKit keeps out of the
// exported fields and only parses fully during expansion.
func describe(cmd instructions.Command) string {
	return describeCmd(cmd, false)
}

func describeCmd(cmd instructions.Command, mounts bool) string {
	if r, ok := cmd.(*instructions.RunCommand); ok {
		slices.Sort(r.FlagsUsed) // BuildKit fills it in map order
	}
	b, err := json.Marshal(cmd)
	if err != nil {
		return "!" + err.Error()
	}
	s := string(b)
	if r, ok := cmd.(*instructions.RunCommand); ok && mounts {
		m, err := json.Marshal(instructions.GetMounts(r))
		if err != nil {
			return "!" + err.Error()
		}
		s += " mounts=" + string(m)
	}
	return s
}

func stageRef(s *Stage) string {
	if s == nil {
		return "-"
	}
	return fmt.Sprintf("%d(%s)", s.Index, s.Name)
}

// dumpGraph renders everything Parse produced, and what each needed step
// expands to when walked in order, as stable text for golden files.
func dumpGraph(g *Graph) string {
	var b strings.Builder
	fmt.Fprintf(&b, "escape %q syntax %q target %s\n", g.Escape, g.Syntax, stageRef(g.Target))
	var needed []string
	for _, s := range g.Needed() {
		needed = append(needed, stageRef(s))
	}
	fmt.Fprintf(&b, "needed %s\n", strings.Join(needed, " "))
	scopes := map[*Stage]*scopeEnv{}
	for _, s := range g.Stages {
		var deps []string
		for _, d := range s.Deps {
			deps = append(deps, stageRef(d))
		}
		from := "image " + s.From.Image
		switch {
		case s.From.Scratch:
			from = "scratch"
		case s.From.Stage != nil:
			from = "stage " + stageRef(s.From.Stage)
		}
		fmt.Fprintf(&b, "stage %s at %s-%d from %s platform %q deps [%s]\n",
			stageRef(s), s.Loc, s.Loc.EndLine, from, s.Platform, strings.Join(deps, " "))
		env := newScopeEnv()
		if s.From.Stage != nil {
			env = scopes[s.From.Stage].child()
		}
		scopes[s] = env
		for _, st := range s.Steps {
			fmt.Fprintf(&b, "  step %d at %s-%d %s %q\n", st.Index, st.Loc, st.Loc.EndLine, strings.ToUpper(st.Cmd.Name()), st.Text)
			if st.From != nil || st.FromRef != "" {
				fmt.Fprintf(&b, "    from %s ref %q\n", stageRef(st.From), st.FromRef)
			}
			fmt.Fprintf(&b, "    parsed   %s\n", describe(st.Cmd))
			exp, err := env.apply(st)
			if err != nil {
				fmt.Fprintf(&b, "    expanded error: %v\n", err)
				continue
			}
			fmt.Fprintf(&b, "    expanded %s\n", describeCmd(exp, true))
		}
	}
	for _, w := range g.Warnings {
		fmt.Fprintf(&b, "warning %s\n", w)
	}
	return b.String()
}
