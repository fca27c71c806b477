package remote

import (
	"context"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/pkg/oci"
)

// storeImage presents an image in an oci.Store as go-containerregistry's
// partial.CompressedImageCore: the manifest and config bytes are the
// stored ones, and layers read their blobs from the store, checked
// against their digests as they are uploaded.
type storeImage struct {
	ctx        context.Context
	store      *oci.Store
	manifest   []byte
	mediaType  string
	config     []byte
	configDesc ocispec.Descriptor
	layers     map[digest.Digest]ocispec.Descriptor
	rep        *reporter
}

var _ partial.CompressedImageCore = (*storeImage)(nil)

// RawConfigFile returns the stored config bytes.
func (s *storeImage) RawConfigFile() ([]byte, error) { return s.config, nil }

// MediaType returns the manifest's media type.
func (s *storeImage) MediaType() (types.MediaType, error) { return types.MediaType(s.mediaType), nil }

// RawManifest returns the stored manifest bytes.
func (s *storeImage) RawManifest() ([]byte, error) { return s.manifest, nil }

// LayerByDigest returns the blob h of the manifest, the config included.
func (s *storeImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	d := digest.Digest(h.String())
	if d == s.configDesc.Digest {
		return &storeBlob{img: s, desc: s.configDesc}, nil
	}
	desc, ok := s.layers[d]
	if !ok {
		return nil, fmt.Errorf("blob %s: %w", d, oci.ErrNotFound)
	}
	return &storeBlob{img: s, desc: desc}, nil
}

// ConfigLayer returns the config blob, read from the store like the
// layers so that its upload is checked and reported too.
func (s *storeImage) ConfigLayer() (v1.Layer, error) {
	return partial.CompressedToLayer(&storeBlob{img: s, desc: s.configDesc})
}

// storeBlob is one blob of a storeImage.
type storeBlob struct {
	img  *storeImage
	desc ocispec.Descriptor
}

// Digest returns the blob's digest.
func (b *storeBlob) Digest() (v1.Hash, error) { return v1.NewHash(b.desc.Digest.String()) }

// Size returns the blob's size.
func (b *storeBlob) Size() (int64, error) { return b.desc.Size, nil }

// MediaType returns the blob's media type.
func (b *storeBlob) MediaType() (types.MediaType, error) {
	return types.MediaType(b.desc.MediaType), nil
}

// Compressed opens the blob in the store. The reader fails at its end if
// the content does not match the digest, so a damaged blob is never
// completed upstream, and reports upload progress.
func (b *storeBlob) Compressed() (io.ReadCloser, error) {
	if err := b.img.ctx.Err(); err != nil {
		return nil, err
	}
	rc, err := b.img.store.Open(b.desc.Digest)
	if err != nil {
		return nil, err
	}
	return &uploadReader{
		progressReader: progressReader{r: rc, rep: b.img.rep, action: ActionPush, d: b.desc.Digest, total: b.desc.Size},
		c:              rc,
	}, nil
}

// uploadReader reports push progress, including the final count at EOF.
type uploadReader struct {
	progressReader
	c        io.Closer
	finished bool
}

func (u *uploadReader) Read(p []byte) (int, error) {
	n, err := u.progressReader.Read(p)
	if err == io.EOF && !u.finished {
		u.finished = true
		u.finish()
	}
	return n, err
}

func (u *uploadReader) Close() error { return u.c.Close() }

// mountingImage marks layers as mountable from another repository of the
// same registry, which go-containerregistry then tries before uploading.
type mountingImage struct {
	v1.Image
	from name.Repository
}

// Layers returns the image's layers, each mountable from the source.
func (m *mountingImage) Layers() ([]v1.Layer, error) {
	ls, err := m.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for i, l := range ls {
		out[i], err = m.mountable(l)
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// LayerByDigest returns one layer, mountable from the source.
func (m *mountingImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := m.Image.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	return m.mountable(l)
}

// ConfigLayer returns the config blob; configs are small enough that
// mounting them is not worth a request.
func (m *mountingImage) ConfigLayer() (v1.Layer, error) { return partial.ConfigLayer(m.Image) }

func (m *mountingImage) mountable(l v1.Layer) (v1.Layer, error) {
	h, err := l.Digest()
	if err != nil {
		return nil, err
	}
	return &remote.MountableLayer{Layer: l, Reference: m.from.Digest(h.String())}, nil
}
