package oci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// layoutReader reads files of one layout directory. Blob paths are only
// ever built from validated digests.
type layoutReader struct {
	dir string
}

func (lr layoutReader) checkLayoutFile() error {
	data, err := lr.readFile(ocispec.ImageLayoutFile, 4096)
	if err != nil {
		return err
	}
	var l ocispec.ImageLayout
	if err := json.Unmarshal(data, &l); err != nil {
		return fmt.Errorf("decoding %s: %w: %w", ocispec.ImageLayoutFile, ErrInvalid, err)
	}
	if !strings.HasPrefix(l.Version, "1.") {
		return fmt.Errorf("%w: unsupported image layout version %q", ErrInvalid, l.Version)
	}
	return nil
}

// readFile reads a regular file of at most max bytes. Opening without
// blocking and checking the type keeps a FIFO or device planted in the
// layout from hanging or flooding the reader.
func (lr layoutReader) readFile(rel string, max int64) ([]byte, error) {
	f, err := lr.open(rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", rel, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("reading %s: %w: limit %d bytes", rel, ErrTooLarge, max)
	}
	return data, nil
}

func (lr layoutReader) open(rel string) (*os.File, error) {
	p := filepath.Join(lr.dir, rel)
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("opening %s: %w", rel, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", rel, err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("inspecting %s: %w", rel, err)
	}
	if !fi.Mode().IsRegular() {
		_ = f.Close()
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrInvalid, rel)
	}
	return f, nil
}

func blobRel(d digest.Digest) (string, error) {
	if err := checkDigest(d); err != nil {
		return "", err
	}
	return filepath.Join(ocispec.ImageBlobsDir, "sha256", d.Encoded()), nil
}

// readJSONBlob reads and verifies a small blob.
func (lr layoutReader) readJSONBlob(desc ocispec.Descriptor) ([]byte, error) {
	rel, err := blobRel(desc.Digest)
	if err != nil {
		return nil, err
	}
	if desc.Size < 0 || desc.Size > maxJSONSize {
		return nil, fmt.Errorf("blob %s: %w: declared size %d, limit %d", desc.Digest, ErrTooLarge, desc.Size, maxJSONSize)
	}
	data, err := lr.readFile(rel, desc.Size)
	if errors.Is(err, ErrTooLarge) {
		return nil, fmt.Errorf("blob %s: %w", desc.Digest, &DigestMismatchError{Expected: desc.Digest, ExpectedSize: desc.Size, ActualSize: -1})
	}
	if err != nil {
		return nil, err
	}
	if int64(len(data)) != desc.Size {
		return nil, fmt.Errorf("blob %s: %w", desc.Digest, &DigestMismatchError{Expected: desc.Digest, ExpectedSize: desc.Size, ActualSize: int64(len(data))})
	}
	if got := digest.FromBytes(data); got != desc.Digest {
		return nil, fmt.Errorf("blob %s: %w", desc.Digest, &DigestMismatchError{Expected: desc.Digest, Actual: got, ExpectedSize: -1, ActualSize: -1})
	}
	return data, nil
}

// docHeader is the part of a manifest or index that says which it is.
type docHeader struct {
	MediaType string `json:"mediaType"`
}

func (lr layoutReader) readIndex(desc ocispec.Descriptor) (*ocispec.Index, error) {
	data, err := lr.readJSONBlob(desc)
	if err != nil {
		return nil, err
	}
	var idx ocispec.Index
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("decoding index %s: %w: %w", desc.Digest, ErrInvalid, err)
	}
	if idx.MediaType != "" && !isIndexType(idx.MediaType) {
		return nil, fmt.Errorf("%w: %s has media type %q, not an index", ErrInvalid, desc.Digest, idx.MediaType)
	}
	return &idx, nil
}

func (lr layoutReader) readManifest(desc ocispec.Descriptor) (*ocispec.Manifest, error) {
	data, err := lr.readJSONBlob(desc)
	if err != nil {
		return nil, err
	}
	var h docHeader
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("decoding manifest %s: %w: %w", desc.Digest, ErrInvalid, err)
	}
	if h.MediaType != "" && !isManifestType(h.MediaType) {
		return nil, fmt.Errorf("%w: %s has media type %q, not an image manifest", ErrInvalid, desc.Digest, h.MediaType)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("decoding manifest %s: %w: %w", desc.Digest, ErrInvalid, err)
	}
	if m.SchemaVersion != 2 {
		return nil, fmt.Errorf("%w: manifest %s has schema version %d", ErrInvalid, desc.Digest, m.SchemaVersion)
	}
	return &m, nil
}

func (lr layoutReader) readConfig(desc ocispec.Descriptor) (dockerspec.DockerOCIImage, error) {
	var cfg dockerspec.DockerOCIImage
	data, err := lr.readJSONBlob(desc)
	if err != nil {
		return cfg, fmt.Errorf("reading config: %w", err)
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return cfg, fmt.Errorf("decoding config %s: %w: %w", desc.Digest, ErrInvalid, err)
	}
	return cfg, nil
}

// leafPlatform returns a manifest's platform from its index entry or, when
// the entry has none, from its config.
func (lr layoutReader) leafPlatform(desc ocispec.Descriptor) (ocispec.Platform, error) {
	if desc.Platform != nil {
		return *desc.Platform, nil
	}
	m, err := lr.readManifest(desc)
	if err != nil {
		return ocispec.Platform{}, err
	}
	cfg, err := lr.readConfig(m.Config)
	if err != nil {
		return ocispec.Platform{}, err
	}
	return ocispec.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}, nil
}

// importBlob copies a blob into s, verifying digest and size as it goes.
func (lr layoutReader) importBlob(ctx context.Context, desc ocispec.Descriptor, s *Store) error {
	rel, err := blobRel(desc.Digest)
	if err != nil {
		return err
	}
	if desc.Size < 0 {
		return fmt.Errorf("%w: blob %s has negative size", ErrInvalid, desc.Digest)
	}
	if s.Has(desc.Digest) {
		if size, err := s.Size(desc.Digest); err == nil && size == desc.Size {
			return nil
		}
	}
	f, err := lr.open(rel)
	if err != nil {
		return err
	}
	defer f.Close()
	w, err := s.Writer(ctx)
	if err != nil {
		return err
	}
	defer w.Close()
	n, err := io.Copy(w, io.LimitReader(f, desc.Size+1))
	if err != nil {
		return fmt.Errorf("copying blob %s: %w", desc.Digest, err)
	}
	if n != desc.Size {
		return fmt.Errorf("copying blob %s: %w", desc.Digest, &DigestMismatchError{Expected: desc.Digest, Actual: w.Digest(), ExpectedSize: desc.Size, ActualSize: n})
	}
	if _, _, err := w.Commit(desc.Digest); err != nil {
		return err
	}
	return nil
}
