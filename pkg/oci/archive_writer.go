package oci

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The tar entries of both archive forms of an image, the OCI layout tar
// and the docker archive: owned by 0:0, in PAX format, all with one mtime.

// namedFile is a file of an archive held in memory.
type namedFile struct {
	name string
	data []byte
}

// archiveWriter writes the entries of an image archive.
type archiveWriter struct {
	tw    *tar.Writer
	mtime time.Time
}

func newArchiveWriter(w io.Writer, mtime time.Time) *archiveWriter {
	return &archiveWriter{tw: tar.NewWriter(w), mtime: mtime}
}

// header is the header of an entry: no owner names, no access or change
// times.
func (a *archiveWriter) header(name string, typ byte, mode, size int64) *tar.Header {
	return &tar.Header{Typeflag: typ, Name: name, Mode: mode, Size: size, ModTime: a.mtime, Format: tar.FormatPAX}
}

// blobDirs writes the directories blobs/ and blobs/sha256/.
func (a *archiveWriter) blobDirs() error {
	for _, d := range []string{ocispec.ImageBlobsDir + "/", ocispec.ImageBlobsDir + "/sha256/"} {
		if err := a.tw.WriteHeader(a.header(d, tar.TypeDir, 0o755, 0)); err != nil {
			return fmt.Errorf("writing %s: %w", d, err)
		}
	}
	return nil
}

// file writes a regular file holding data.
func (a *archiveWriter) file(name string, data []byte) error {
	if err := a.tw.WriteHeader(a.header(name, tar.TypeReg, 0o644, int64(len(data)))); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if _, err := a.tw.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

// blob writes the store blob b as the file name.
func (a *archiveWriter) blob(ctx context.Context, s *Store, b ocispec.Descriptor, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rc, err := s.Open(b.Digest)
	if err != nil {
		return fmt.Errorf("exporting blob %s: %w", b.Digest, err)
	}
	defer rc.Close()
	if err := a.tw.WriteHeader(a.header(name, tar.TypeReg, 0o644, b.Size)); err != nil {
		return fmt.Errorf("writing blob %s: %w", b.Digest, err)
	}
	// Reading one byte past the declared size makes a blob longer than its
	// descriptor fail here instead of in the tar writer.
	n, err := io.Copy(a.tw, io.LimitReader(ctxReader{ctx: ctx, r: rc}, b.Size+1))
	if err != nil {
		return fmt.Errorf("copying blob %s: %w", b.Digest, err)
	}
	if n != b.Size {
		return fmt.Errorf("copying blob %s: %w", b.Digest, &DigestMismatchError{Expected: b.Digest, Actual: b.Digest, ExpectedSize: b.Size, ActualSize: n})
	}
	return nil
}

// close writes the end of the archive; the underlying writer stays open.
func (a *archiveWriter) close() error {
	if err := a.tw.Close(); err != nil {
		return fmt.Errorf("finishing tar: %w", err)
	}
	return nil
}
