package parser

import (
	"fmt"
	"sort"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/linter"
	bkparser "github.com/moby/buildkit/frontend/dockerfile/parser"
)

// lintCollector turns BuildKit linter callbacks into Warnings.
type lintCollector struct {
	file     string
	warnings []Warning
	rules    []string
}

func (c *lintCollector) warn(rule, _, _, msg string, location []bkparser.Range) {
	c.rules = append(c.rules, rule)
	c.warnings = append(c.warnings, Warning{
		Loc:     locationFromRanges(c.file, location),
		Message: linter.LintFormatShort(rule, msg, 0),
	})
}

// asError implements `# check=error=true`: any lint finding fails the parse,
// reported at the first finding.
func (c *lintCollector) asError() error {
	if len(c.warnings) == 0 {
		return nil
	}
	seen := map[string]bool{}
	var rules []string
	for _, r := range c.rules {
		if !seen[r] {
			seen[r] = true
			rules = append(rules, r)
		}
	}
	sort.Strings(rules)
	return &Error{
		Loc: c.warnings[0].Loc,
		Err: fmt.Errorf("lint violation found for rules: %s", strings.Join(rules, ", ")),
	}
}
