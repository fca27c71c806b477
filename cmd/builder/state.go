package main

import (
	"context"
	"errors"

	"github.com/ocibuilder/builder/pkg/oci"
	"github.com/ocibuilder/builder/pkg/oci/images"
	"github.com/ocibuilder/builder/pkg/oci/remote"
	"github.com/ocibuilder/builder/pkg/statedir"
)

// state is the CLI's handle on the state directory: opened once per
// command and handed to the build, the image index and the outputs.
type state struct {
	dir    *statedir.State
	store  *oci.Store
	index  *images.Index
	remote remote.Options
}

// openState opens --root shared, so that a prune cannot remove what this
// command is using, with its store and image index.
func openState(ctx context.Context, g *globalFlags) (*state, error) {
	dir, err := statedir.Open(ctx, g.root, statedir.Shared)
	if err != nil {
		return nil, err
	}
	idx, err := images.Open(dir)
	if err != nil {
		return nil, errors.Join(err, dir.Close())
	}
	return &state{dir: dir, store: dir.Store(), index: idx, remote: remote.Options{Insecure: g.insecure}}, nil
}

func (s *state) close() error { return s.dir.Close() }

// image loads a stored image by name, digest or ID prefix.
func (s *state) image(ctx context.Context, ref string) (*oci.Image, error) {
	desc, err := s.index.Lookup(ctx, ref)
	if err != nil {
		return nil, err
	}
	return images.Load(ctx, s.store, desc)
}

// withImage opens the state directory, loads the stored image ref (a name,
// digest or ID prefix) and hands both to use; the state directory stays
// open, and the image's blobs safe from a prune, until use returns.
func withImage(ctx context.Context, g *globalFlags, ref string, use func(st *state, img *oci.Image) error) error {
	st, err := openState(ctx, g)
	if err != nil {
		return err
	}
	defer st.close()
	img, err := st.image(ctx, ref)
	if err != nil {
		return err
	}
	return use(st, img)
}
