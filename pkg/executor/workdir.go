package executor

import (
	"context"
	"fmt"
	"strings"

	"github.com/ocibuilder/builder/internal/copier"
	"github.com/ocibuilder/builder/internal/imageuser"
)

// mkdirStep creates directory p (WORKDIR) when the image lacks it and
// commits the result as a layer. The directories it creates belong to the
// stage's USER, as in BuildKit (imageuser.WorkdirOwner).
func (b *builder) mkdirStep(ctx context.Context, ss *stageState, p string) (bool, error) {
	lower, err := b.stack(ctx, ss)
	if err != nil {
		return false, err
	}
	rel, err := lower.Resolve(strings.TrimPrefix(p, "/"), true)
	if err != nil {
		return false, fmt.Errorf("WORKDIR %q: %w", p, err)
	}
	if fi, err := lower.Lstat(rel); err == nil {
		if !fi.IsDir() {
			return false, fmt.Errorf("WORKDIR %q: not a directory in the image", p)
		}
		return false, nil
	}
	var opts copier.Options
	if u := ss.cfg.Config.User; u != "" {
		id, err := imageuser.WorkdirOwner(u, lower)
		if err != nil {
			return false, fmt.Errorf("WORKDIR %q: %w", p, err)
		}
		opts.Owner = ownerOf(id)
	}
	fst, err := b.newFileStep(ctx, lower, opts)
	if err != nil {
		return false, err
	}
	defer fst.close()
	if err := fst.cp.MkdirAll(rel, 0o755); err != nil {
		return false, err
	}
	if err := fst.cp.Finish(); err != nil {
		return false, err
	}
	changed, err := b.commitLayer(ctx, ss, fst.upper, fst.cp.Changes(), true)
	fst.keep = changed
	return changed, err
}
