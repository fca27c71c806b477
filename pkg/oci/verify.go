package oci

import (
	"crypto/sha256"
	"hash"
	"io"

	"github.com/opencontainers/go-digest"
)

// verifyingReader hashes what passes through it and replaces the final
// io.EOF with a DigestMismatchError when the content does not match. A
// caller that reads to EOF therefore never mistakes corrupt data for good.
type verifyingReader struct {
	r        io.Reader
	h        hash.Hash
	n        int64
	expected digest.Digest
	err      error
}

func newVerifyingReader(r io.Reader, expected digest.Digest) *verifyingReader {
	return &verifyingReader{r: r, h: sha256.New(), expected: expected}
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if err == io.EOF {
		got := digest.NewDigestFromBytes(digest.SHA256, v.h.Sum(nil))
		if got != v.expected {
			err = &DigestMismatchError{Expected: v.expected, Actual: got, ExpectedSize: -1, ActualSize: v.n}
		}
	}
	if err != nil {
		v.err = err
	}
	return n, err
}

// blobReader is a verifying reader over a file that the caller closes.
type blobReader struct {
	*verifyingReader
	c io.Closer
}

func (b *blobReader) Close() error { return b.c.Close() }
