package parser

import (
	"errors"
	"strings"
	"testing"
)

// mustParse parses df or fails the test.
func mustParse(t *testing.T, df string, o Options) *Graph {
	t.Helper()
	g, err := Parse(strings.NewReader(df), o)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return g
}

// parseErr parses df, requires an *Error and returns it.
func parseErr(t *testing.T, df string, o Options) *Error {
	t.Helper()
	g, err := Parse(strings.NewReader(df), o)
	if err == nil {
		t.Fatalf("Parse succeeded with %d stages, want an error", len(g.Stages))
	}
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v is %T, want *Error", err, err)
	}
	return pe
}

// onlyStep parses "FROM base" followed by body and returns its single step.
func onlyStep(t *testing.T, body string) *Step {
	t.Helper()
	g := mustParse(t, "FROM base\n"+body, Options{})
	if n := len(g.Stages[0].Steps); n != 1 {
		t.Fatalf("got %d steps, want 1", n)
	}
	return g.Stages[0].Steps[0]
}

func stageNames(ss []*Stage) string {
	var names []string
	for _, s := range ss {
		names = append(names, s.displayName())
	}
	return strings.Join(names, ",")
}

// mapEnv is a fixed set of variables for expansion tests.
type mapEnv map[string]string

func (m mapEnv) Get(k string) (string, bool) {
	v, ok := m[k]
	return v, ok
}

func (m mapEnv) Keys() []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}
