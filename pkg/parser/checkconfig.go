package parser

import (
	"fmt"
	"slices"

	"github.com/moby/buildkit/frontend/dockerfile/linter"
)

// CheckArg is the build argument that replaces the `# check=` directive, as
// in BuildKit: `--build-arg BUILDKIT_DOCKERFILE_CHECK=skip=all`.
const CheckArg = "BUILDKIT_DOCKERFILE_CHECK"

// CheckConfig says which build checks (BuildKit's lint rules) run and what
// a finding does. It comes from the `# check=` parser directive, or from
// the CheckArg build argument, which replaces the directive entirely. A
// `# check=` comment right above an instruction adds to it for that
// instruction, as in BuildKit.
type CheckConfig struct {
	// SkipAll turns every rule off (skip=all); experimental rules named
	// in Experimental still run.
	SkipAll bool
	// Skip names the rules turned off (skip=RuleA,RuleB).
	Skip []string
	// ExperimentalAll turns every experimental rule on (experimental=all).
	ExperimentalAll bool
	// Experimental names the experimental rules turned on.
	Experimental []string
	// Error makes a build with findings fail (error=true).
	Error bool
}

// checkConfigFrom converts BuildKit's parsed check options.
func checkConfigFrom(c *linter.Config) CheckConfig {
	return CheckConfig{
		SkipAll:         c.SkipAll,
		Skip:            slices.Clone(c.SkipRules),
		ExperimentalAll: c.ExperimentalAll,
		Experimental:    slices.Clone(c.ExperimentalRules),
		Error:           c.ReturnAsError,
	}
}

// linterConfig converts c back into BuildKit's form, with warn as the
// callback that receives findings.
func (c CheckConfig) linterConfig(warn linter.LintWarnFunc) *linter.Config {
	return &linter.Config{
		SkipAll:           c.SkipAll,
		SkipRules:         slices.Clone(c.Skip),
		ExperimentalAll:   c.ExperimentalAll,
		ExperimentalRules: slices.Clone(c.Experimental),
		ReturnAsError:     c.Error,
		Warn:              warn,
	}
}

// resolveCheckConfig picks the check configuration of file: the CheckArg
// build argument if given, else the `# check=` directive (raw is its value,
// found at loc), else the default (every stable rule, warnings only).
func resolveCheckConfig(file string, buildArgs map[string]string, raw string, loc Location) (CheckConfig, error) {
	if v, ok := buildArgs[CheckArg]; ok {
		c, err := linter.ParseLintOptions(v)
		if err != nil {
			return CheckConfig{}, &Error{Loc: Location{File: file}, Err: fmt.Errorf("build arg %s: %w", CheckArg, err)}
		}
		return checkConfigFrom(c), nil
	}
	if loc.Line == 0 {
		return CheckConfig{}, nil
	}
	c, err := linter.ParseLintOptions(raw)
	if err != nil {
		return CheckConfig{}, &Error{Loc: loc, Err: fmt.Errorf("parsing check directive: %w", err)}
	}
	return checkConfigFrom(c), nil
}
