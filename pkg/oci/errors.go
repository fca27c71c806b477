package oci

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/opencontainers/go-digest"
)

// ErrNotFound reports that a blob, manifest, reference or platform does
// not exist, in a store, a layout or a registry: pkg/oci/remote and
// pkg/oci/images use this same value, so one errors.Is test covers all.
var ErrNotFound = errors.New("not found")

// ErrPlatformNotFound reports an image index without a manifest for the
// requested platform. It wraps ErrNotFound, so errors.Is matches either.
var ErrPlatformNotFound error = platformNotFound{}

type platformNotFound struct{}

func (platformNotFound) Error() string { return "no image for platform" }
func (platformNotFound) Unwrap() error { return ErrNotFound }

// ErrAmbiguous reports that a reference matches more than one image.
var ErrAmbiguous = errors.New("ambiguous reference")

// ErrTooLarge reports content bigger than the limit the caller allows.
var ErrTooLarge = errors.New("content too large")

// ErrInvalid reports content that does not follow the OCI image spec.
var ErrInvalid = errors.New("invalid image")

// DigestMismatchError reports content whose hash or size differs from the
// digest and size it was expected to have.
type DigestMismatchError struct {
	Expected digest.Digest
	Actual   digest.Digest
	// ExpectedSize and ActualSize are set when the size was checked; -1
	// means not checked (ExpectedSize) or more than expected (ActualSize).
	ExpectedSize, ActualSize int64
}

// Error describes the mismatch.
func (e *DigestMismatchError) Error() string {
	if e.ExpectedSize >= 0 && e.ExpectedSize != e.ActualSize {
		got := "more"
		if e.ActualSize >= 0 {
			got = strconv.FormatInt(e.ActualSize, 10)
		}
		return fmt.Sprintf("size mismatch for %s: expected %d bytes, got %s", e.Expected, e.ExpectedSize, got)
	}
	return fmt.Sprintf("digest mismatch: expected %s, got %s", e.Expected, e.Actual)
}
