// Package gitsource fetches the git repositories ADD names, as BuildKit's
// git source does: it tells git sources from other ADD sources by
// BuildKit's own rules, resolves the ref on the server (the commit is what
// a step's cache key names), and fetches and checks out that commit with
// the host's git, run without any user or system configuration.
package gitsource

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/dfgitutil"
	"github.com/moby/buildkit/util/urlutil"
)

// Source is an ADD source that names a git repository:
// URL[#ref[:subdir]][?query], with BuildKit's query keys (ref, tag,
// branch, subdir, checksum or commit, keep-git-dir, submodules, mtime,
// fetch-by-commit).
type Source struct {
	// Remote is the repository URL as git is given it: the source
	// without its fragment and query.
	Remote string
	// Ref is a branch, a tag, another ref ("refs/pull/1/head") or a full
	// commit sha; "" is the repository's default branch.
	Ref string
	// Subdir is the directory of the repository whose contents are
	// copied; "" is the whole repository.
	Subdir string
	// Checksum, when set, is the hex commit sha (or a prefix of it) the
	// ref must resolve to.
	Checksum string
	// KeepGitDir keeps the .git directory; BuildKit ignores it with a
	// Subdir, and so does Checkout.
	KeepGitDir bool
	// Submodules fetches the submodules (the default).
	Submodules bool
	// CommitMTime gives every file the commit's time as mtime
	// (?mtime=commit); by default files have the time of the checkout.
	CommitMTime bool
	// FetchByCommit trusts Checksum as the commit: the server is not
	// asked what the ref points to, and the commit is fetched by its sha.
	FetchByCommit bool

	// name is the source with credentials masked, for messages.
	name string
	// secrets are the credentials in Remote, masked in git's output.
	secrets []string
}

var hexSHA = regexp.MustCompile(`^[0-9a-f]+$`)

// Parse reports whether the ADD source src names a git repository, by
// BuildKit's rules: an http(s) URL whose path ends in .git, any ssh:// or
// git:// URL, or an scp-like user@host:path. A "github.com/org/repo"
// without a scheme is a local path, as it is for BuildKit's ADD. The
// instruction's --keep-git-dir (nil when not given) and --checksum are
// merged with the URL's query; a conflict between the two is an error.
func Parse(src string, keepGitDir *bool, checksum string) (*Source, bool, error) {
	ref, isGit, err := dfgitutil.ParseGitRef(src)
	if !isGit {
		return nil, false, nil
	}
	s := &Source{name: Redact(src)}
	if err != nil {
		return nil, true, fmt.Errorf("git source %s: %w", s.name, err)
	}
	if ref.IndistinguishableFromLocal {
		return nil, false, nil
	}
	s.Remote, s.Ref, s.Subdir = ref.Remote, ref.Ref, ref.SubDir
	s.Submodules = ref.Submodules == nil || *ref.Submodules
	s.CommitMTime = ref.MTime == "commit"
	s.FetchByCommit = ref.FetchByCommit
	s.secrets = credentials(s.Remote)
	if strings.HasPrefix(s.Ref, "-") {
		return nil, true, fmt.Errorf("git source %s: invalid ref %q", s.name, s.Ref)
	}
	if keepGitDir != nil && ref.KeepGitDir != nil && *keepGitDir != *ref.KeepGitDir {
		return nil, true, fmt.Errorf("git source %s: --keep-git-dir=%t conflicts with the URL's keep-git-dir=%t", s.name, *keepGitDir, *ref.KeepGitDir)
	}
	switch {
	case ref.KeepGitDir != nil:
		s.KeepGitDir = *ref.KeepGitDir
	case keepGitDir != nil:
		s.KeepGitDir = *keepGitDir
	}
	if checksum != "" && ref.Checksum != "" && checksum != ref.Checksum {
		return nil, true, fmt.Errorf("git source %s: --checksum=%s conflicts with the URL's checksum %s", s.name, checksum, ref.Checksum)
	}
	s.Checksum = strings.ToLower(checksum)
	if ref.Checksum != "" {
		s.Checksum = strings.ToLower(ref.Checksum)
	}
	if s.Checksum != "" && !hexSHA.MatchString(s.Checksum) {
		return nil, true, fmt.Errorf("git source %s: invalid checksum %s: want a hex commit sha", s.name, s.Checksum)
	}
	return s, true, nil
}

// Name is the source as the Dockerfile gives it, credentials masked.
func (s *Source) Name() string { return s.name }

// Redact masks the user name and password of a URL, as BuildKit does in
// its messages; other strings are returned as they are.
func Redact(u string) string { return urlutil.RedactCredentials(u) }

// credentials lists what to mask of a URL's credentials in git's
// messages: the password, and the user name as it is written before the
// host ("user@", so that a user such as "git" does not mask every "git").
func credentials(remote string) []string {
	u, err := url.Parse(remote)
	if err != nil || u.User == nil {
		return nil
	}
	var out []string
	if p, ok := u.User.Password(); ok && p != "" {
		out = append(out, p, url.PathEscape(p))
	}
	if n := u.User.Username(); n != "" {
		out = append(out, n+"@", url.PathEscape(n)+"@")
	}
	return out
}

// mask replaces the source's credentials in text (git's messages) with
// the mask BuildKit uses.
func (s *Source) mask(text string) string {
	for _, c := range s.secrets {
		repl := "xxxxx"
		if strings.HasSuffix(c, "@") {
			repl += "@"
		}
		text = strings.ReplaceAll(text, c, repl)
	}
	return text
}
