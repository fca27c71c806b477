package parser

import (
	"fmt"
	"slices"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/linter"
	bkparser "github.com/moby/buildkit/frontend/dockerfile/parser"
)

// lintCollector turns BuildKit linter callbacks into Warnings.
type lintCollector struct {
	file     string
	warnings []Warning
}

func (c *lintCollector) warn(rule, description, url, msg string, location []bkparser.Range) {
	c.warnings = append(c.warnings, Warning{
		Loc:         locationFromRanges(c.file, location),
		Message:     linter.LintFormatShort(rule, msg, 0),
		Rule:        rule,
		Description: description,
		Detail:      msg,
		URL:         url,
	})
}

// newLinter returns a linter applying cfg whose findings c collects.
func (c *lintCollector) newLinter(cfg CheckConfig) *linter.Linter {
	return linter.New(cfg.linterConfig(c.warn))
}

// sortWarnings puts findings in file order; findings on one line keep the
// order in which the checks ran.
func sortWarnings(ws []Warning) {
	slices.SortStableFunc(ws, func(a, b Warning) int { return a.Loc.Line - b.Loc.Line })
}

// CheckError is the failure of a build whose check configuration says
// error=true and whose build checks found something.
type CheckError struct {
	// Warnings holds the findings, in file order.
	Warnings []Warning
}

// Error names the rules that found something, as BuildKit does.
func (e *CheckError) Error() string {
	var rules []string
	for _, w := range e.Warnings {
		if !slices.Contains(rules, w.Rule) {
			rules = append(rules, w.Rule)
		}
	}
	slices.Sort(rules)
	return fmt.Sprintf("lint violation found for rules: %s", strings.Join(rules, ", "))
}

// checkFailure returns, located at the first finding, the *CheckError of
// build-check findings ws when cfg says error=true; nil otherwise.
func checkFailure(cfg CheckConfig, ws []Warning) error {
	var found []Warning
	for _, w := range ws {
		if w.Rule != "" {
			found = append(found, w)
		}
	}
	if !cfg.Error || len(found) == 0 {
		return nil
	}
	sortWarnings(found)
	return &Error{Loc: found[0].Loc, Err: &CheckError{Warnings: found}}
}

// CheckFailure returns the error that fails the build because of ws, the
// findings of checks run while building (see Step.ExpandChecked), when the
// check configuration says error=true; nil otherwise. It is an *Error
// located at the first finding, wrapping a *CheckError.
func (g *Graph) CheckFailure(ws []Warning) error {
	return checkFailure(g.Check, ws)
}
