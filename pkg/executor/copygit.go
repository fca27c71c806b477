package executor

import (
	"context"
	"fmt"

	"github.com/ocibuilder/builder/internal/gitsource"
	"github.com/ocibuilder/builder/internal/source"
)

// gitSource is an ADD source naming a git repository: resolved to a
// commit when the step is planned (the cache key names the commit),
// checked out only when the step runs.
type gitSource struct {
	src *gitsource.Source
	res *gitsource.Resolved
	co  *gitsource.Checkout // once checked out
	cx  *source.Context     // co.Tree, once opened
}

// planGit reports whether src names a git repository and, if so,
// resolves its ref on the server, once per source.
func (p *copyPlan) planGit(ctx context.Context, src string) (bool, error) {
	r := p.r
	g, isGit, err := gitsource.Parse(src, r.keepGitDir, r.checksum)
	if !isGit || err != nil {
		return isGit, err
	}
	if !r.add {
		return true, fmt.Errorf("COPY %s: source can't be a git repository; use ADD", g.Name())
	}
	if r.checksum != "" && len(r.srcs)+len(r.contents) > 1 {
		return true, fmt.Errorf("ADD --checksum can't be used with more than one source")
	}
	if _, ok := p.gits[src]; ok {
		return true, nil
	}
	res, err := p.b.git.Resolve(ctx, g)
	if err != nil {
		return true, err
	}
	fmt.Fprintf(p.log, "resolved %s to commit %s\n", g.Name(), res.Commit)
	p.gits[src] = &gitSource{src: g, res: res}
	return true, nil
}

// cacheSource names what a git source copies, for the step's cache key:
// the commit, and with the .git directory kept, the ref and the object
// it points to (an annotated tag is part of .git), as in BuildKit.
func (g *gitSource) cacheSource() string {
	s := "git " + g.src.Name() + " " + g.res.Commit
	if g.src.KeepGitDir && g.src.Subdir == "" {
		s += " " + g.res.Ref + "=" + g.res.Object
	}
	return s
}

// gitItem checks the source out, once, and returns it as a copy item: its
// tree's contents go into the destination.
func (p *copyPlan) gitItem(ctx context.Context, g *gitSource) (copyItem, error) {
	if g.cx == nil {
		co, err := p.b.git.Checkout(ctx, g.src, g.res, p.b.state.tmp)
		if err != nil {
			return copyItem{}, err
		}
		g.co = co
		if g.cx, err = source.OpenContext(co.Tree, nil); err != nil {
			return copyItem{}, err
		}
	}
	return copyItem{fsys: g.cx, path: "", name: g.src.Name()}, nil
}

// close removes the checkout.
func (g *gitSource) close() {
	if g.cx != nil {
		g.cx.Close()
	}
	if g.co != nil {
		g.co.Remove()
	}
}
