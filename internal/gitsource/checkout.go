package gitsource

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ocibuilder/builder/internal/fsutil"
)

// Checkout is a source's commit checked out for ADD.
type Checkout struct {
	// Dir holds everything the checkout wrote; Remove removes it.
	Dir string
	// Tree is the directory whose contents ADD copies: the work tree,
	// or its Subdir.
	Tree string
}

// Remove removes the checkout.
func (c *Checkout) Remove() error { return os.RemoveAll(c.Dir) }

// Checkout fetches res's commit of src (only that commit where the
// server allows it) into a new directory under tmpDir and checks it out,
// with its submodules unless src turns them off. Files have git's modes
// (0644, or 0755 for executables) and the time of the checkout as mtime
// (the commit's with src.CommitMTime). The .git directory is kept only
// with src.KeepGitDir and no Subdir, as in BuildKit: HEAD is then
// detached at the commit, the ref fetched is kept (a branch as
// refs/remotes/origin/NAME) and origin's URL has its credentials masked.
// On failure nothing is left in tmpDir.
func (g *Git) Checkout(ctx context.Context, src *Source, res *Resolved, tmpDir string) (_ *Checkout, err error) {
	dir, err := os.MkdirTemp(tmpDir, "git-")
	if err != nil {
		return nil, fmt.Errorf("git source %s: %w", src.name, err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
			err = fmt.Errorf("git source %s: %w", src.name, err)
		}
	}()
	tree := filepath.Join(dir, "tree")
	if err := g.checkout(ctx, src, res, tree); err != nil {
		return nil, err
	}
	if src.CommitMTime {
		if err := g.setCommitTimes(ctx, src, res, tree); err != nil {
			return nil, err
		}
	}
	if src.KeepGitDir && src.Subdir == "" {
		if err := g.tidyGitDir(ctx, src, tree); err != nil {
			return nil, err
		}
	} else if err := os.RemoveAll(filepath.Join(tree, ".git")); err != nil {
		return nil, err
	}
	sub, err := subdir(tree, src.Subdir)
	if err != nil {
		return nil, err
	}
	return &Checkout{Dir: dir, Tree: sub}, nil
}

// checkout makes a repository at tree with origin at src.Remote, fetches
// the commit and checks it out, submodules included.
func (g *Git) checkout(ctx context.Context, src *Source, res *Resolved, tree string) error {
	// No templates: no sample hooks, no description, nothing that is not
	// the repository's.
	if _, err := g.run(ctx, src, "", "init", "-q", "--template=", tree); err != nil {
		return err
	}
	// origin is where relative submodule URLs lead.
	if _, err := g.run(ctx, src, tree, "remote", "add", "origin", src.Remote); err != nil {
		return err
	}
	if err := g.fetch(ctx, src, res, tree); err != nil {
		return err
	}
	if _, err := g.run(ctx, src, tree, "checkout", "-q", "--detach", res.Commit); err != nil {
		return err
	}
	if !src.Submodules {
		return nil
	}
	if _, err := os.Lstat(filepath.Join(tree, ".gitmodules")); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	_, err := g.run(ctx, src, tree, "submodule", "--quiet", "update", "--init", "--recursive", "--depth=1")
	return err
}

// fetch fetches the commit res names: by its ref, shallow, unless the
// ref moved since it was resolved or fetch-by-commit is asked for; then
// the commit itself, which the ref is made to point to.
func (g *Git) fetch(ctx context.Context, src *Source, res *Resolved, tree string) error {
	local := localRef(res.Ref)
	if res.Ref != "" && !src.FetchByCommit {
		if _, err := g.run(ctx, src, tree, "fetch", "-q", "--depth=1", "--no-tags", "--", "origin", "+"+res.Ref+":"+local); err != nil {
			return err
		}
		got, err := g.run(ctx, src, tree, "rev-parse", "--verify", "-q", local+"^{commit}")
		if err != nil {
			return err
		}
		if strings.TrimSpace(string(got)) == res.Commit {
			return nil
		}
	}
	if err := g.fetchCommit(ctx, src, res.Commit, tree); err != nil {
		return err
	}
	if res.Ref == "" {
		return nil
	}
	_, err := g.run(ctx, src, tree, "update-ref", "--no-deref", local, res.Commit)
	return err
}

// fetchCommit fetches a commit by its sha: alone where the server allows
// it, else with all branches and tags.
func (g *Git) fetchCommit(ctx context.Context, src *Source, sha, tree string) error {
	if _, err := g.run(ctx, src, tree, "fetch", "-q", "--depth=1", "--no-tags", "--", "origin", sha); err != nil {
		if _, err := g.run(ctx, src, tree, "fetch", "-q", "--no-tags", "--", "origin",
			"+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"); err != nil {
			return err
		}
	}
	if _, err := g.run(ctx, src, tree, "cat-file", "-e", sha+"^{commit}"); err != nil {
		return fmt.Errorf("the repository has no commit %s", sha)
	}
	return nil
}

// localRef is where the checkout keeps the ref it fetched: a branch as
// origin's, as git clone does, anything else under its own name.
func localRef(ref string) string {
	if b, ok := strings.CutPrefix(ref, "refs/heads/"); ok {
		return "refs/remotes/origin/" + b
	}
	return ref
}

// tidyGitDir leaves a .git that ADD keeps as BuildKit does: origin
// without credentials, no reflog, no FETCH_HEAD.
func (g *Git) tidyGitDir(ctx context.Context, src *Source, tree string) error {
	if _, err := g.run(ctx, src, tree, "remote", "set-url", "origin", Redact(src.Remote)); err != nil {
		return err
	}
	if _, err := g.run(ctx, src, tree, "reflog", "expire", "--all", "--expire=now"); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(tree, ".git", "FETCH_HEAD")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// setCommitTimes gives every entry of tree the commit's time.
func (g *Git) setCommitTimes(ctx context.Context, src *Source, res *Resolved, tree string) error {
	out, err := g.run(ctx, src, tree, "show", "-s", "--format=%ct", res.Commit)
	if err != nil {
		return err
	}
	sec, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		return fmt.Errorf("commit time %q: %w", out, err)
	}
	return fsutil.SetTreeTimes(tree, time.Unix(sec, 0))
}

// subdir returns the directory sub of tree, whose every component must
// be a directory (not a symlink, which could lead out of the tree), as
// BuildKit requires.
func subdir(tree, sub string) (string, error) {
	sub = strings.TrimPrefix(path.Clean("/"+sub), "/")
	p := tree
	if sub == "" {
		return p, nil
	}
	for _, part := range strings.Split(sub, "/") {
		p = filepath.Join(p, part)
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("subdirectory %s: not found in the repository", sub)
		}
		if err != nil {
			return "", fmt.Errorf("subdirectory %s: %w", sub, err)
		}
		if !fi.IsDir() {
			return "", fmt.Errorf("subdirectory %s: %s is not a directory", sub, strings.TrimPrefix(p, tree+"/"))
		}
	}
	return p, nil
}
