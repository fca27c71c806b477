package parser

import (
	"path"
	"slices"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/linter"
	bkparser "github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
)

// secretWords and publicWords are the words of an ARG or ENV name (split
// at "_", any case) that make SecretsUsedInArgOrEnv consider it a secret,
// and those that clear it again, as in BuildKit.
var (
	secretWords = []string{"apikey", "auth", "credential", "credentials", "key", "password", "pword", "passwd", "secret", "token"}
	publicWords = []string{"public", "file", "version"}
)

// secretKey reports an ARG or ENV whose name suggests it holds a secret,
// which would end up in the image (SecretsUsedInArgOrEnv).
func secretKey(lint *linter.Linter, instruction, key string, loc []bkparser.Range) {
	words := strings.Split(strings.ToLower(key), "_")
	hasAny := func(set []string) bool {
		return slices.ContainsFunc(words, func(w string) bool { return slices.Contains(set, w) })
	}
	if hasAny(secretWords) && !hasAny(publicWords) {
		lint.Run(&linter.RuleSecretsUsedInArgOrEnv, loc, linter.RuleSecretsUsedInArgOrEnv.Format(instruction, key))
	}
}

// exposedPort reports, in an EXPOSE port written without variables, a
// protocol not in lower case (ExposeProtoCasing) and an IP address or host
// port (ExposeInvalidFormat). Ports BuildKit would reject are left to the
// build.
func exposedPort(lint *linter.Linter, raw string, loc []bkparser.Range) {
	if strings.Contains(raw, "$") {
		return
	}
	// [ip:][hostPort:]port[/proto]; an IPv6 address holds colons too.
	parts := strings.Split(raw, ":")
	port, proto, _ := strings.Cut(parts[len(parts)-1], "/")
	switch strings.ToLower(proto) {
	case "", "tcp", "udp", "sctp":
	default:
		return
	}
	if port == "" {
		return
	}
	if proto != strings.ToLower(proto) {
		lint.Run(&linter.RuleExposeProtoCasing, loc, linter.RuleExposeProtoCasing.Format(raw))
	}
	if strings.Join(parts[:len(parts)-1], "") != "" {
		lint.Run(&linter.RuleExposeInvalidFormat, loc, linter.RuleExposeInvalidFormat.Format(raw))
	}
}

// copySources reports COPY or ADD sources from the build context that its
// .dockerignore excludes, so that the step cannot find them
// (CopyIgnoredFile). As in BuildKit nothing is reported when the patterns
// hold exclusions ("!name"), and the context root only when a pattern
// excludes everything. Sources written with variables, URLs and Git
// repositories are not checked.
func copySources(lint *linter.Linter, ignore *patternmatcher.PatternMatcher, cmd string, srcs []string, loc []bkparser.Range) {
	if lint == nil || ignore == nil || ignore.Exclusions() {
		return
	}
	for _, src := range srcs {
		if strings.Contains(src, "$") || strings.Contains(src, "://") || strings.HasPrefix(src, "git@") {
			continue
		}
		src = path.Clean(src)
		if (src == "." || src == "/") && !ignoresEverything(ignore) {
			continue
		}
		if ok, err := ignore.MatchesOrParentMatches(src); err == nil && ok {
			lint.Run(&linter.RuleCopyIgnoredFile, loc, linter.RuleCopyIgnoredFile.Format(cmd, src))
		}
	}
}

// ignoresEverything reports whether a pattern excludes every entry of the
// context root.
func ignoresEverything(pm *patternmatcher.PatternMatcher) bool {
	return slices.ContainsFunc(pm.Patterns(), func(p *patternmatcher.Pattern) bool {
		s := p.String()
		return !p.Exclusion() && (s == "*" || s == "**" || s == "**/*")
	})
}
