package parser

import (
	"slices"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/ocibuilder/builder/internal/platforms"
)

// argEnv is an insertion-ordered set of build-time variables. It implements
// shell.EnvGetter so it can feed the BuildKit lexer directly.
type argEnv struct {
	keys []string
	vals map[string]string
}

func newArgEnv() *argEnv {
	return &argEnv{vals: map[string]string{}}
}

// Get returns the value of key.
func (e *argEnv) Get(key string) (string, bool) {
	v, ok := e.vals[key]
	return v, ok
}

// Keys returns the variable names in the order they were first set.
func (e *argEnv) Keys() []string {
	return slices.Clone(e.keys)
}

func (e *argEnv) set(key, value string) {
	if _, ok := e.vals[key]; !ok {
		e.keys = append(e.keys, key)
	}
	e.vals[key] = value
}

// predefinedArgs returns the automatic platform arguments, in BuildKit's
// order, with --build-arg overrides applied as BuildKit does.
func predefinedArgs(o Options, target string) *argEnv {
	if target == "" {
		target = "default"
	}
	bp, tp := o.BuildPlatform, o.TargetPlatform
	pairs := [...][2]string{
		{"BUILDPLATFORM", platforms.Format(bp)},
		{"BUILDOS", bp.OS},
		{"BUILDOSVERSION", bp.OSVersion},
		{"BUILDARCH", bp.Architecture},
		{"BUILDVARIANT", bp.Variant},
		{"TARGETPLATFORM", platforms.Format(tp)},
		{"TARGETOS", tp.OS},
		{"TARGETOSVERSION", tp.OSVersion},
		{"TARGETARCH", tp.Architecture},
		{"TARGETVARIANT", tp.Variant},
		{"TARGETSTAGE", target},
	}
	env := newArgEnv()
	for _, kv := range pairs {
		v := kv[1]
		if ov, ok := o.BuildArgs[kv[0]]; ok {
			v = ov
		}
		env.set(kv[0], v)
	}
	return env
}

// isImplicitArg reports whether a build argument is meaningful without a
// matching ARG: the automatic platform arguments, the check configuration
// and the proxy variables docker passes through to RUN.
func isImplicitArg(name string) bool {
	switch name {
	case "BUILDPLATFORM", "BUILDOS", "BUILDOSVERSION", "BUILDARCH", "BUILDVARIANT",
		"TARGETPLATFORM", "TARGETOS", "TARGETOSVERSION", "TARGETARCH", "TARGETVARIANT",
		"TARGETSTAGE", CheckArg,
		"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
		"FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy",
		"ALL_PROXY", "all_proxy":
		return true
	}
	return false
}

// metaArg is an ARG instruction that appears before the first FROM.
type metaArg struct {
	cmd *instructions.ArgCommand
	loc Location
}

// resolveMetaArgs evaluates the global ARGs in order on top of env: a build
// argument replaces the default, otherwise the default is expanded with the
// variables defined so far. An ARG with neither stays undefined.
func resolveMetaArgs(env *argEnv, lex *shell.Lex, args []metaArg, buildArgs map[string]string) error {
	for _, a := range args {
		for _, kv := range a.cmd.Args {
			if v, ok := buildArgs[kv.Key]; ok {
				env.set(kv.Key, v)
				continue
			}
			if kv.Value == nil {
				continue
			}
			v, err := ExpandWord(lex, *kv.Value, env)
			if err != nil {
				return &Error{Loc: a.loc, Err: err}
			}
			env.set(kv.Key, v)
		}
	}
	return nil
}
