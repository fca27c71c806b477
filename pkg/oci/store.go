package oci

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Store is a content-addressed blob store laid out like the blobs directory
// of an OCI layout: <root>/blobs/sha256/<hex>. Blobs are written under
// <root>/tmp first and only renamed into place once their digest is known,
// so a blob path never holds partial or unverified content. A Store is safe
// for concurrent use by several goroutines and processes.
type Store struct {
	root string
}

// OpenStore opens the store at root, creating its directories if needed.
func OpenStore(root string) (*Store, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("resolving store path %s: %w", root, err)
	}
	s := &Store{root: abs}
	for _, d := range []string{s.blobDir(), s.tmpDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("creating store directory %s: %w", d, err)
		}
	}
	return s, nil
}

// Root returns the store's absolute root directory.
func (s *Store) Root() string { return s.root }

func (s *Store) blobDir() string { return filepath.Join(s.root, "blobs", "sha256") }
func (s *Store) tmpDir() string  { return filepath.Join(s.root, "tmp") }

// Path returns the file holding blob d, for hard-linking it into outputs.
// It returns "" for a digest that is not a valid sha256 digest. The file
// must be treated as read-only.
func (s *Store) Path(d digest.Digest) string {
	if checkDigest(d) != nil {
		return ""
	}
	return filepath.Join(s.blobDir(), d.Encoded())
}

// Has reports whether blob d is present.
func (s *Store) Has(d digest.Digest) bool {
	p := s.Path(d)
	if p == "" {
		return false
	}
	fi, err := os.Lstat(p)
	return err == nil && fi.Mode().IsRegular()
}

// Size returns the size of blob d.
func (s *Store) Size(d digest.Digest) (int64, error) {
	if err := checkDigest(d); err != nil {
		return 0, err
	}
	fi, err := os.Lstat(s.Path(d))
	if errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("blob %s: %w", d, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("inspecting blob %s: %w", d, err)
	}
	return fi.Size(), nil
}

// Open returns a reader of blob d that checks the content against d: at the
// end of the blob it returns a *DigestMismatchError instead of io.EOF if
// the content was altered. A missing blob gives an error wrapping
// ErrNotFound.
func (s *Store) Open(d digest.Digest) (io.ReadCloser, error) {
	if err := checkDigest(d); err != nil {
		return nil, err
	}
	f, err := os.Open(s.Path(d))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("opening blob %s: %w", d, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("opening blob %s: %w", d, err)
	}
	return &blobReader{verifyingReader: newVerifyingReader(f, d), c: f}, nil
}

// ReadAll returns the verified content of blob d, refusing blobs larger
// than max bytes with an error wrapping ErrTooLarge.
func (s *Store) ReadAll(d digest.Digest, max int64) ([]byte, error) {
	size, err := s.Size(d)
	if err != nil {
		return nil, err
	}
	if size > max {
		return nil, fmt.Errorf("reading blob %s: %w: %d bytes, limit %d", d, ErrTooLarge, size, max)
	}
	rc, err := s.Open(d)
	if err != nil {
		return nil, err
	}
	// The limit guards against a blob that grows after the size check.
	data, readErr := io.ReadAll(io.LimitReader(rc, max+1))
	closeErr := rc.Close()
	if readErr != nil {
		return nil, fmt.Errorf("reading blob %s: %w", d, readErr)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("reading blob %s: %w: limit %d", d, ErrTooLarge, max)
	}
	if closeErr != nil {
		return nil, fmt.Errorf("closing blob %s: %w", d, closeErr)
	}
	return data, nil
}

// Put stores data and returns its descriptor with the given media type.
func (s *Store) Put(ctx context.Context, mediaType string, data []byte) (ocispec.Descriptor, error) {
	// Configs and manifests are stored again on every build that
	// computes them: a blob already there costs one stat.
	if d := digest.FromBytes(data); s.Has(d) {
		return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}, nil
	}
	w, err := s.Writer(ctx)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	defer w.Close()
	if _, err := io.Copy(w, bytes.NewReader(data)); err != nil {
		return ocispec.Descriptor{}, err
	}
	d, n, err := w.Commit("")
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: n}, nil
}
