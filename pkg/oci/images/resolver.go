package images

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/ocibuilder/builder/internal/platforms"
	"github.com/ocibuilder/builder/pkg/oci"
	"github.com/ocibuilder/builder/pkg/oci/remote"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Resolver finds the base images of builds: in the local index first, as
// docker build does, else in the registry, recording what it pulled under
// its name so that the next build downloads nothing.
type Resolver struct {
	Index  *Index
	Store  *oci.Store
	Remote remote.Options
	// Pull asks the registry even when the image is stored and pulls it
	// when the registry has a different manifest (--pull).
	Pull bool
}

// Resolve returns the image ref names for platform, with its blobs in the
// store. Download progress goes to log.
func (r *Resolver) Resolve(ctx context.Context, ref string, platform ocispec.Platform, log io.Writer) (*oci.Image, error) {
	name, err := oci.ParseImageName(ref)
	if err != nil {
		return nil, err
	}
	if name.Digest != "" && r.Store.Has(name.Digest) {
		// A pinned manifest that is stored is the image, whatever --pull says.
		if desc, err := r.storedDescriptor(name.Digest); err == nil {
			if img, err := r.local(ctx, desc, platform); err == nil {
				return img, nil
			}
		}
	}
	stored, lookupErr := r.Index.Lookup(ctx, name.String())
	if lookupErr != nil && !errors.Is(lookupErr, ErrNotFound) {
		return nil, lookupErr
	}
	if lookupErr == nil && !r.Pull {
		if img, err := r.local(ctx, stored, platform); err == nil {
			return img, nil
		}
	}
	if lookupErr == nil && r.Pull {
		head, err := remote.Head(ctx, ref, platform, r.Remote)
		if err != nil {
			return nil, err
		}
		if head.Digest == stored.Digest {
			if img, err := r.local(ctx, stored, platform); err == nil {
				fmt.Fprintf(log, "%s is up to date (%s)\n", name, stored.Digest)
				return img, nil
			}
		}
	}
	opts := r.Remote
	opts.Progress = func(u remote.Update) {
		if u.Action == remote.ActionPull && u.Done == u.Total {
			fmt.Fprintf(log, "pulled %s (%d bytes)\n", u.Digest, u.Total)
		}
		if r.Remote.Progress != nil {
			r.Remote.Progress(u)
		}
	}
	fmt.Fprintf(log, "pulling %s\n", name)
	img, desc, err := remote.Pull(ctx, ref, platform, r.Store, opts)
	if err != nil {
		return nil, err
	}
	if name.Tag != "" {
		if err := r.Index.Tag(ctx, oci.ImageName{Domain: name.Domain, Path: name.Path, Tag: name.Tag}.String(), desc); err != nil {
			return nil, err
		}
	}
	return img, nil
}

// storedDescriptor describes a stored manifest blob by its own media type.
func (r *Resolver) storedDescriptor(d digest.Digest) (ocispec.Descriptor, error) {
	data, err := r.Store.ReadAll(d, maxJSONSize)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	var doc struct {
		MediaType string `json:"mediaType"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("manifest %s: %w", d, err)
	}
	return ocispec.Descriptor{MediaType: doc.MediaType, Digest: d, Size: int64(len(data))}, nil
}

// local loads a stored image if it is for the wanted platform.
func (r *Resolver) local(ctx context.Context, desc ocispec.Descriptor, platform ocispec.Platform) (*oci.Image, error) {
	img, err := Load(ctx, r.Store, desc)
	if err != nil {
		return nil, err
	}
	if platform.OS != "" && !oci.PlatformMatches(platform, img.Platform()) {
		return nil, fmt.Errorf("stored image is for %s", platforms.Format(img.Platform()))
	}
	return img, nil
}
