package gitsource

import (
	"context"
	"fmt"
	"strings"

	"github.com/moby/buildkit/util/gitutil"
)

// Resolved is what a source's ref points to on the server.
type Resolved struct {
	// Ref is the full name of the ref ("refs/heads/main",
	// "refs/tags/v1"), or "" when the source names a commit.
	Ref string
	// Object is what Ref points to: the commit, or an annotated tag.
	Object string
	// Commit is the commit checked out.
	Commit string
}

// Resolve finds the commit the source's ref names: a full commit sha is
// taken as it is, anything else is asked of the server (git ls-remote),
// preferring, as BuildKit and git checkout do, an exact "refs/..." name,
// then a branch, then a tag. The commit (or the annotated tag) must match
// Checksum when one is set.
func (g *Git) Resolve(ctx context.Context, src *Source) (*Resolved, error) {
	if gitutil.IsCommitSHA(src.Ref) {
		return src.checked(&Resolved{Object: src.Ref, Commit: src.Ref})
	}
	if src.FetchByCommit {
		if !gitutil.IsCommitSHA(src.Checksum) {
			return nil, fmt.Errorf("git source %s: fetch-by-commit needs the full commit sha as checksum", src.name)
		}
		return &Resolved{Ref: qualify(src.Ref), Object: src.Checksum, Commit: src.Checksum}, nil
	}
	args := []string{"ls-remote", "--symref", "--", src.Remote, "HEAD"}
	if src.Ref != "" {
		args = []string{"ls-remote", "--", src.Remote, src.Ref, src.Ref + "^{}"}
	}
	out, err := g.run(ctx, src, "", args...)
	if err != nil {
		return nil, fmt.Errorf("git source %s: %w", src.name, err)
	}
	res, err := pickRef(string(out), src.Ref)
	if err != nil {
		return nil, fmt.Errorf("git source %s: %w", src.name, err)
	}
	return src.checked(res)
}

// qualify names an unqualified ref as a branch, as BuildKit does for
// fetch-by-commit; "" stays "".
func qualify(ref string) string {
	if ref == "" || strings.HasPrefix(ref, "refs/") {
		return ref
	}
	return "refs/heads/" + ref
}

// pickRef chooses ref's line of ls-remote's output; ref "" picks the
// default branch of "ls-remote --symref URL HEAD".
func pickRef(out, ref string) (*Resolved, error) {
	shas := map[string]string{}
	headRef := ""
	for _, line := range strings.Split(out, "\n") {
		sha, name, ok := strings.Cut(line, "\t")
		if !ok {
			continue
		}
		if t, ok := strings.CutPrefix(sha, "ref: "); ok && name == "HEAD" {
			headRef = t
			continue
		}
		shas[name] = sha
	}
	if ref == "" {
		if headRef == "" || shas["HEAD"] == "" {
			return nil, fmt.Errorf("the repository has no default branch")
		}
		return resolved(headRef, shas["HEAD"], "")
	}
	exact := "refs/" + strings.TrimPrefix(ref, "refs/")
	branch := "refs/heads/" + strings.TrimPrefix(ref, "refs/heads/")
	tag := "refs/tags/" + strings.TrimPrefix(ref, "refs/tags/")
	for _, name := range []string{exact, branch, tag} {
		if sha := shas[name]; sha != "" {
			return resolved(name, sha, shas[name+"^{}"])
		}
	}
	return nil, fmt.Errorf("the repository has no branch or tag %q (a commit must be given as its full sha)", ref)
}

// resolved checks what ls-remote gave: peeled, when set, is the commit an
// annotated tag points to.
func resolved(ref, sha, peeled string) (*Resolved, error) {
	commit := sha
	if peeled != "" {
		commit = peeled
	}
	if !gitutil.IsCommitSHA(sha) || !gitutil.IsCommitSHA(commit) {
		return nil, fmt.Errorf("the server gave %q for %s, not a commit sha", sha, ref)
	}
	return &Resolved{Ref: ref, Object: sha, Commit: commit}, nil
}

// checked returns res when the source has no checksum or its checksum
// starts the commit or the annotated tag, and else an error naming both.
func (s *Source) checked(res *Resolved) (*Resolved, error) {
	if s.Checksum == "" || strings.HasPrefix(res.Commit, s.Checksum) || strings.HasPrefix(res.Object, s.Checksum) {
		return res, nil
	}
	return nil, fmt.Errorf("git source %s: checksum mismatch: expected commit %s, got %s", s.name, s.Checksum, res.Commit)
}
