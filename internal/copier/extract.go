package copier

import (
	"context"
	"io"
	"path/filepath"

	"github.com/ocibuilder/builder/pkg/layer"
)

// Extract unpacks the tar archive r, compressed or not, into dest, a
// directory the upper already holds (MkdirAll), refusing more than
// maxSize bytes of uncompressed content (0: no limit). As in docker, Options.Owner owns every entry
// when set, and --chmod applies neither to the entries nor to dest.
// layer.Apply keeps every entry inside dest, whatever names and links the
// archive holds.
func (c *Copier) Extract(ctx context.Context, r io.Reader, dest string, maxSize int64) error {
	opts := layer.ApplyOptions{Whiteouts: layer.WhiteoutOCI, MaxSize: maxSize, Owner: c.opts.Owner}
	_, err := layer.Apply(ctx, filepath.Join(c.upperDir, filepath.FromSlash(dest)), r, opts)
	return err
}
