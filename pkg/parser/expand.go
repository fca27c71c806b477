package parser

import (
	"fmt"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// Expand returns a fresh copy of the step's command with its words expanded
// from env, following BuildKit: instructions implementing
// instructions.SupportsSingleWordExpansion expand the words they choose (RUN
// only its --mount options, never its command line), EXPOSE expands and
// splits each port, heredoc sources of COPY/ADD expand unless their
// delimiter is quoted, and CMD, ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD and
// MAINTAINER are left as written. ARG keys stay literal and each value
// becomes the one the variable takes, as ResolveArgs describes, without
// marking build arguments consumed. Step.Cmd is never modified. A nil env
// expands every variable to "".
func (s *Step) Expand(env shell.EnvGetter) (instructions.Command, error) {
	return s.expand(env, nil)
}

// varSet collects variable names; a nil one collects nothing.
type varSet map[string]struct{}

func (v varSet) add(names map[string]struct{}) {
	if v == nil {
		return
	}
	for k := range names {
		v[k] = struct{}{}
	}
}

// expand is Expand; unmatched, unless nil, receives the variables the
// expansion read that env lacks.
func (s *Step) expand(env shell.EnvGetter, unmatched varSet) (instructions.Command, error) {
	if env == nil {
		env = newArgEnv()
	}
	cmd, err := s.reparse()
	if err != nil {
		return nil, err
	}
	g := s.Stage.graph
	lex := shell.NewLex(g.Escape)
	word := func(w string) (string, error) {
		r, err := expandWordResult(lex, w, env)
		unmatched.add(r.Unmatched)
		return r.Result, err
	}
	switch c := cmd.(type) {
	case *instructions.ArgCommand:
		err = resolveArgValues(c, lex, env, g, unmatched)
	case *instructions.ExposeCommand:
		err = expandPorts(c, lex, env)
	default:
		if ex, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
			err = ex.Expand(word)
		}
	}
	if err == nil {
		if ex, ok := cmd.(instructions.SupportsSingleWordExpansionRaw); ok {
			err = ex.ExpandRaw(rawExpander(env, unmatched))
		}
	}
	if err != nil {
		return nil, &Error{Loc: s.Loc, Err: fmt.Errorf("expanding %s: %w", strings.ToUpper(cmd.Name()), err)}
	}
	return cmd, nil
}

// reparse builds a new typed command from the kept AST node, so expansion
// never aliases the slices and maps shared with Step.Cmd.
func (s *Step) reparse() (instructions.Command, error) {
	// A linter without a Warn callback stays silent; a nil one would panic
	// on `# check=` comments.
	v, err := parseNode(s.node, linter.New(&linter.Config{}))
	if err != nil {
		return nil, locate(s.Loc.File, err, s.Loc)
	}
	cmd, ok := v.(instructions.Command)
	if !ok {
		return nil, &Error{Loc: s.Loc, Err: fmt.Errorf("unexpected instruction type %T", v)}
	}
	return cmd, nil
}

// resolveArgValues sets each ARG variable to the value BuildKit gives it:
// the build argument if given, else the default expanded with env plus the
// variables defined earlier on the same line, else the global ARG or
// automatic argument. An overridden default is never evaluated.
func resolveArgValues(c *instructions.ArgCommand, lex *shell.Lex, env shell.EnvGetter, g *Graph, unmatched varSet) error {
	defined := newArgEnv()
	scope := overlayEnv{top: defined, base: env}
	for i, kv := range c.Args {
		if v, ok := g.buildArgs[kv.Key]; ok {
			c.Args[i].Value = &v
		} else if kv.Value != nil {
			r, err := expandWordResult(lex, *kv.Value, scope)
			unmatched.add(r.Unmatched)
			if err != nil {
				return err
			}
			v := r.Result
			c.Args[i].Value = &v
		} else if v, ok := g.Global(kv.Key); ok {
			c.Args[i].Value = &v
		}
		if v := c.Args[i].Value; v != nil {
			defined.set(kv.Key, *v)
		}
	}
	return nil
}

// overlayEnv looks variables up in top first, then in base.
type overlayEnv struct {
	top  *argEnv
	base shell.EnvGetter
}

// Get returns the value of key.
func (e overlayEnv) Get(key string) (string, bool) {
	if v, ok := e.top.Get(key); ok {
		return v, true
	}
	return e.base.Get(key)
}

// Keys returns the names defined in either layer.
func (e overlayEnv) Keys() []string {
	keys := e.top.Keys()
	for _, k := range e.base.Keys() {
		if _, ok := e.top.Get(k); !ok {
			keys = append(keys, k)
		}
	}
	return keys
}

// expandPorts expands EXPOSE ports; one word may yield several ports.
func expandPorts(c *instructions.ExposeCommand, lex *shell.Lex, env shell.EnvGetter) error {
	ports := []string{}
	for _, p := range c.Ports {
		ps, err := expandWords(lex, p, env)
		if err != nil {
			return err
		}
		ports = append(ports, ps...)
	}
	c.Ports = ports
	return nil
}

// rawExpander expands heredoc bodies: always with a backslash escape and
// keeping quotes, as BuildKit does for file contents. unmatched, unless
// nil, receives the variables read that env lacks.
func rawExpander(env shell.EnvGetter, unmatched varSet) instructions.SingleWordExpander {
	lex := shell.NewLex('\\')
	lex.SkipProcessQuotes = true
	return func(w string) (string, error) {
		r, err := expandWordResult(lex, w, env)
		unmatched.add(r.Unmatched)
		return r.Result, err
	}
}

// ResolveArgs returns the variables an ARG step defines, in order, with the
// value each takes per BuildKit: the build argument if given (marking it
// consumed), else the default expanded from env and the variables defined
// before it on the same line, else the global ARG or automatic platform
// argument of that name. Value is nil for a declared but unset variable.
func (s *Step) ResolveArgs(env shell.EnvGetter) ([]instructions.KeyValuePairOptional, error) {
	if _, ok := s.Cmd.(*instructions.ArgCommand); !ok {
		return nil, &Error{Loc: s.Loc, Err: fmt.Errorf("resolving args of %s: not an ARG instruction", strings.ToUpper(s.Cmd.Name()))}
	}
	cmd, err := s.Expand(env)
	if err != nil {
		return nil, err
	}
	args := cmd.(*instructions.ArgCommand).Args
	for _, kv := range args {
		s.Stage.graph.BuildArg(kv.Key)
	}
	return args, nil
}
