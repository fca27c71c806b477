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
// MAINTAINER are left as written. For ARG only default values are expanded,
// and not those a build argument overrides since BuildKit never evaluates
// them. Step.Cmd is never modified. A nil env expands every variable to "".
func (s *Step) Expand(env shell.EnvGetter) (instructions.Command, error) {
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
		r, _, err := lex.ProcessWord(w, env)
		return r, err
	}
	switch c := cmd.(type) {
	case *instructions.ArgCommand:
		err = expandArgDefaults(c, word, g.buildArgs)
	case *instructions.ExposeCommand:
		err = expandPorts(c, lex, env)
	default:
		if ex, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
			err = ex.Expand(word)
		}
	}
	if err == nil {
		if ex, ok := cmd.(instructions.SupportsSingleWordExpansionRaw); ok {
			err = ex.ExpandRaw(rawExpander(env))
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
	v, err := instructions.ParseInstructionWithLinter(s.node, linter.New(&linter.Config{}))
	if err != nil {
		return nil, locate(s.Loc.File, err, s.Loc)
	}
	cmd, ok := v.(instructions.Command)
	if !ok {
		return nil, &Error{Loc: s.Loc, Err: fmt.Errorf("unexpected instruction type %T", v)}
	}
	return cmd, nil
}

// expandArgDefaults expands ARG default values the way BuildKit's ARG
// dispatch does: keys stay literal and overridden defaults are skipped.
func expandArgDefaults(c *instructions.ArgCommand, word instructions.SingleWordExpander, buildArgs map[string]string) error {
	for i, kv := range c.Args {
		if kv.Value == nil {
			continue
		}
		if _, ok := buildArgs[kv.Key]; ok {
			continue
		}
		v, err := word(*kv.Value)
		if err != nil {
			return err
		}
		c.Args[i].Value = &v
	}
	return nil
}

// expandPorts expands EXPOSE ports; one word may yield several ports.
func expandPorts(c *instructions.ExposeCommand, lex *shell.Lex, env shell.EnvGetter) error {
	ports := []string{}
	for _, p := range c.Ports {
		ps, err := lex.ProcessWords(p, env)
		if err != nil {
			return err
		}
		ports = append(ports, ps...)
	}
	c.Ports = ports
	return nil
}

// rawExpander expands heredoc bodies: always with a backslash escape and
// keeping quotes, as BuildKit does for file contents.
func rawExpander(env shell.EnvGetter) instructions.SingleWordExpander {
	lex := shell.NewLex('\\')
	lex.SkipProcessQuotes = true
	return func(w string) (string, error) {
		r, _, err := lex.ProcessWord(w, env)
		return r, err
	}
}

// ResolveArgs returns the variables an ARG step defines, in order, with the
// value each takes per BuildKit: the build argument if given (marking it
// consumed), else the default expanded from env, else the global ARG or
// automatic platform argument of that name. Value is nil for a declared but
// unset variable.
func (s *Step) ResolveArgs(env shell.EnvGetter) ([]instructions.KeyValuePairOptional, error) {
	if _, ok := s.Cmd.(*instructions.ArgCommand); !ok {
		return nil, &Error{Loc: s.Loc, Err: fmt.Errorf("resolving args of %s: not an ARG instruction", strings.ToUpper(s.Cmd.Name()))}
	}
	cmd, err := s.Expand(env)
	if err != nil {
		return nil, err
	}
	g := s.Stage.graph
	args := cmd.(*instructions.ArgCommand).Args
	for i, kv := range args {
		if v, ok := g.BuildArg(kv.Key); ok {
			args[i].Value = &v
			continue
		}
		if kv.Value != nil {
			continue
		}
		if v, ok := g.Global(kv.Key); ok {
			args[i].Value = &v
		}
	}
	return args, nil
}
