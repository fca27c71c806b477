package parser

import (
	"fmt"
	"math"
	"regexp"

	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// MaxWordSize is the most bytes one word may grow to by variable
// substitution. Without a bound, ENV or ARG lines that each double a
// variable ("ENV A1=$A0$A0", fifty times) ask for petabytes from a
// Dockerfile of a few kilobytes.
const MaxWordSize = 1 << 20

// WordSizeError reports a word whose expansion would exceed MaxWordSize.
type WordSizeError struct {
	// Word is the word as written, shortened for display.
	Word string
}

// Error names the word and the limit.
func (e *WordSizeError) Error() string {
	return fmt.Sprintf("expanding %q: the result would exceed %d bytes", e.Word, MaxWordSize)
}

// ExpandWord expands one word with env through lex, as BuildKit does, and
// fails with a *WordSizeError instead of building a result larger than
// MaxWordSize. Every expansion of a Dockerfile goes through it or through
// Step.Expand, which uses it.
func ExpandWord(lex *shell.Lex, word string, env shell.EnvGetter) (string, error) {
	r, err := expandWordResult(lex, word, env)
	return r.Result, err
}

// expandWordResult is ExpandWord that also says which variables the word
// read and which of those env lacks, for the build checks.
func expandWordResult(lex *shell.Lex, word string, env shell.EnvGetter) (shell.ProcessWordResult, error) {
	be, err := boundEnv(word, env)
	if err != nil {
		return shell.ProcessWordResult{}, err
	}
	r, err := lex.ProcessWordWithMatches(word, be)
	if be.over || len(r.Result) > MaxWordSize {
		return shell.ProcessWordResult{}, &WordSizeError{Word: shorten(word)}
	}
	return r, err
}

// expandWords is ExpandWord for words that split into several (EXPOSE).
func expandWords(lex *shell.Lex, word string, env shell.EnvGetter) ([]string, error) {
	be, err := boundEnv(word, env)
	if err != nil {
		return nil, err
	}
	rs, err := lex.ProcessWords(word, be)
	if be.over {
		return nil, &WordSizeError{Word: shorten(word)}
	}
	return rs, err
}

// boundEnv checks the growth pattern substitutions can cause and returns
// env wrapped to count the bytes variables contribute.
func boundEnv(word string, env shell.EnvGetter) (*boundedEnv, error) {
	if replaceBound(word, env) > MaxWordSize {
		return nil, &WordSizeError{Word: shorten(word)}
	}
	return &boundedEnv{env: env, left: MaxWordSize}, nil
}

// boundedEnv hands out variable values until they add up to more than a
// word may hold; after that it pretends variables are empty and records
// that the result is void, so the lexer never builds a huge string.
type boundedEnv struct {
	env  shell.EnvGetter
	left int
	over bool
}

// Get returns the value of key, or "" once the budget is spent.
func (e *boundedEnv) Get(key string) (string, bool) {
	v, ok := e.env.Get(key)
	if e.over || len(v) > e.left {
		e.over = true
		return "", ok
	}
	e.left -= len(v)
	return v, ok
}

// Keys returns the names of the wrapped environment.
func (e *boundedEnv) Keys() []string { return e.env.Keys() }

var (
	// replaceRef finds the start of a pattern substitution, ${name/...}
	// or ${name//...}, whose output can be larger than its inputs.
	replaceRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)/`)
	// varRef finds variable references.
	varRef = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)`)
)

// replaceBound returns an upper bound on the bytes the pattern
// substitutions in word produce: each of the value's len+1 match
// positions may receive the replacement, which is no longer than the rest
// of the word with its variables and any substitutions nested in it.
// Escapes and quotes are ignored, which only makes the bound larger.
func replaceBound(word string, env shell.EnvGetter) int {
	ms := replaceRef.FindAllStringSubmatchIndex(word, -1)
	total, inner := 0, 0
	for i := len(ms) - 1; i >= 0; i-- {
		m := ms[i]
		val, _ := env.Get(word[m[2]:m[3]])
		rest := word[m[1]:]
		r := satAdd(satAdd(len(rest), refBytes(rest, env)), inner)
		b := satMul(len(val)+1, r)
		inner = satAdd(inner, b)
		total = satAdd(total, b)
	}
	return total
}

// refBytes sums the values of the variables s refers to.
func refBytes(s string, env shell.EnvGetter) int {
	n := 0
	for _, m := range varRef.FindAllStringSubmatch(s, -1) {
		v, _ := env.Get(m[1])
		n = satAdd(n, len(v))
	}
	return n
}

func satAdd(a, b int) int {
	if a > math.MaxInt-b {
		return math.MaxInt
	}
	return a + b
}

func satMul(a, b int) int {
	if a != 0 && b > math.MaxInt/a {
		return math.MaxInt
	}
	return a * b
}

// shorten cuts a word for display in an error.
func shorten(w string) string {
	if len(w) > 60 {
		return w[:57] + "..."
	}
	return w
}

// VarRefs returns the names of the variables the step's text refers to
// ($NAME or ${NAME...}), in order of first use. Escapes and quotes are
// ignored, so it may name more than expansion reads, never fewer.
func (s *Step) VarRefs() []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range varRef.FindAllStringSubmatch(s.Text, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	return out
}
