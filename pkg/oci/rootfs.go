package oci

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/opencontainers/go-digest"

	"github.com/ocibuilder/builder/internal/fsutil"
	"github.com/ocibuilder/builder/pkg/layer"
)

// WriteRootfs unpacks img into dir as a plain directory tree (the "local"
// output): every layer is applied in order, with OCI whiteouts removing
// what upper layers deleted. The tree is built in a temporary sibling and
// replaces dir in one step, so a failed export leaves dir as it was. File
// owners are restored only when running as root.
//
// Every path is resolved inside the new tree (symlinks included, as in a
// chroot), so no entry writes outside it. Character and block devices are
// never created on the host: each one is left out, with one line to o.Warn
// naming it. Of o, only MaxLayerSize and Warn apply.
func WriteRootfs(ctx context.Context, img *Image, dir string, o WriteOptions) error {
	if img.Store == nil {
		return fmt.Errorf("writing rootfs %s: %w: image has no store", dir, ErrInvalid)
	}
	warned := map[string]bool{}
	opts := layer.ApplyOptions{
		Whiteouts:   layer.WhiteoutOCI,
		NoSameOwner: os.Geteuid() != 0,
		SkipDevices: func(name string) {
			if o.Warn == nil || warned[name] {
				return
			}
			warned[name] = true
			o.Warn(fmt.Sprintf("%s: device node %q left out: a directory output never holds device nodes", dir, "/"+name))
		},
	}
	if o.MaxLayerSize > 0 {
		opts.MaxSize = o.MaxLayerSize
	}
	err := fsutil.ReplaceDir(ctx, dir, func(tmp string) error {
		for i, l := range img.Layers {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := applyBlob(ctx, img.Store, l.Digest, tmp, opts); err != nil {
				return fmt.Errorf("applying layer %d (%s): %w", i, l.Digest, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("writing rootfs %s: %w", dir, err)
	}
	return nil
}

func applyBlob(ctx context.Context, s *Store, d digest.Digest, root string, opts layer.ApplyOptions) error {
	rc, err := s.Open(d)
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := layer.Apply(ctx, root, rc, opts); err != nil {
		return err
	}
	// Apply may stop at the end of the tar; the blob's tail must still go
	// through the verifying reader so a tampered blob is reported.
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return fmt.Errorf("reading layer: %w", err)
	}
	return nil
}
