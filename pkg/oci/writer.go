package oci

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"os"

	"github.com/opencontainers/go-digest"

	"github.com/ocibuilder/builder/internal/fsutil"
)

// BlobWriter ingests one blob into a Store, hashing it as it is written.
// Nothing is visible in the store until Commit succeeds; Close discards an
// uncommitted blob. A BlobWriter is not safe for concurrent use.
type BlobWriter struct {
	ctx  context.Context
	s    *Store
	f    *os.File
	name string // temporary file; "" once renamed into place or removed
	h    hash.Hash
	n    int64
	done bool
	err  error
}

// Writer starts ingesting a new blob. The caller must Close the writer,
// whether or not it commits.
func (s *Store) Writer(ctx context.Context) (*BlobWriter, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("starting blob ingest: %w", err)
	}
	// An unnamed file where the filesystem allows: a writer killed
	// mid-blob then leaves nothing behind.
	f, named, err := fsutil.CreateTemp(s.tmpDir(), "ingest")
	if err != nil {
		return nil, fmt.Errorf("starting blob ingest: %w", err)
	}
	w := &BlobWriter{ctx: ctx, s: s, f: f, h: sha256.New()}
	if named {
		w.name = f.Name()
	}
	return w, nil
}

// errWriterDone reports use of a BlobWriter after Commit or Close.
var errWriterDone = errors.New("blob writer already committed or closed")

// Write appends p to the blob. It stops with the context's error once the
// context passed to Writer is done.
func (w *BlobWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, errWriterDone
	}
	if w.err != nil {
		return 0, w.err
	}
	if err := w.ctx.Err(); err != nil {
		w.err = fmt.Errorf("writing blob: %w", err)
		return 0, w.err
	}
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	if err != nil {
		w.err = fmt.Errorf("writing blob: %w", err)
		return n, w.err
	}
	return n, nil
}

// Digest returns the digest of what has been written so far.
func (w *BlobWriter) Digest() digest.Digest {
	return digest.NewDigestFromBytes(digest.SHA256, w.h.Sum(nil))
}

// Size returns the number of bytes written so far.
func (w *BlobWriter) Size() int64 { return w.n }

// Commit makes the blob visible in the store and returns its digest and
// size. If expected is not empty and differs from the content's digest,
// Commit returns a *DigestMismatchError and stores nothing. When the blob
// already exists the existing copy is kept (identical content). The
// temporary file is gone after Commit returns, whatever the outcome.
func (w *BlobWriter) Commit(expected digest.Digest) (d digest.Digest, size int64, err error) {
	if w.done {
		return "", 0, errWriterDone
	}
	defer func() { _ = w.abort() }()
	if w.err != nil {
		return "", 0, w.err
	}
	if expected != "" {
		if err := checkDigest(expected); err != nil {
			return "", 0, fmt.Errorf("committing blob: %w", err)
		}
	}
	d = w.Digest()
	if expected != "" && d != expected {
		return "", 0, fmt.Errorf("committing blob: %w", &DigestMismatchError{Expected: expected, Actual: d, ExpectedSize: -1, ActualSize: w.n})
	}
	if err := w.ctx.Err(); err != nil {
		return "", 0, fmt.Errorf("committing blob %s: %w", d, err)
	}
	dst := w.s.Path(d)
	if fi, err := os.Lstat(dst); err == nil && fi.Mode().IsRegular() && fi.Size() == w.n {
		return d, w.n, nil
	}
	if err := w.f.Chmod(0o444); err != nil {
		return "", 0, fmt.Errorf("committing blob %s: %w", d, err)
	}
	if err := w.f.Sync(); err != nil {
		return "", 0, fmt.Errorf("syncing blob %s: %w", d, err)
	}
	if w.name == "" {
		if w.name, err = fsutil.LinkTemp(w.f, w.s.tmpDir(), "ingest"); err != nil {
			return "", 0, fmt.Errorf("committing blob %s: %w", d, err)
		}
	}
	err = w.f.Close()
	w.f = nil
	if err != nil {
		return "", 0, fmt.Errorf("closing blob %s: %w", d, err)
	}
	// A racing writer of the same blob may rename first; its content is
	// identical, so replacing it is harmless. An existing file of the wrong
	// size (a damaged store) is replaced here too.
	if err := os.Rename(w.name, dst); err != nil {
		return "", 0, fmt.Errorf("committing blob %s: %w", d, err)
	}
	w.name = ""
	if err := fsutil.SyncDir(w.s.blobDir()); err != nil {
		return "", 0, err
	}
	return d, w.n, nil
}

// Close discards the blob unless it was committed. It is safe to call more
// than once and after Commit.
func (w *BlobWriter) Close() error {
	return w.abort()
}

func (w *BlobWriter) abort() error {
	w.done = true
	var errs []error
	if w.f != nil {
		if err := w.f.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing ingest file: %w", err))
		}
		w.f = nil
	}
	if w.name != "" {
		if err := os.Remove(w.name); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("removing ingest file: %w", err))
		}
		w.name = ""
	}
	return errors.Join(errs...)
}
