package remote

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/ocibuilder/builder/pkg/oci"
)

// ErrNotFound reports that the registry has no such repository, tag,
// manifest or blob (HTTP 404, MANIFEST_UNKNOWN, NAME_UNKNOWN,
// BLOB_UNKNOWN). It is oci.ErrNotFound, so one errors.Is test covers the
// registry, the store and OCI layouts.
var ErrNotFound = oci.ErrNotFound

// ErrUnauthorized reports that the registry refused the credentials, or
// their absence (HTTP 401 or 403, UNAUTHORIZED, DENIED). Docker Hub also
// answers this way for repositories that do not exist.
var ErrUnauthorized = errors.New("unauthorized")

// ErrDigestMismatch reports content whose digest or size differs from what
// the manifest or reference promised. The error also wraps an
// *oci.DigestMismatchError with the details when they are known.
var ErrDigestMismatch = errors.New("digest mismatch")

// ErrPlatformNotFound reports an image index without a manifest for the
// requested platform. It is oci.ErrPlatformNotFound, which wraps
// ErrNotFound.
var ErrPlatformNotFound = oci.ErrPlatformNotFound

// ErrUnsupported reports a manifest, config or layer this package cannot
// use, such as a schema 1 manifest or an artifact that is not an image.
var ErrUnsupported = errors.New("unsupported content")

// wrapErr adds the operation and reference to err and, for registry
// answers callers branch on, the matching sentinel.
func wrapErr(op, ref string, err error) error {
	if err == nil {
		return nil
	}
	if s := sentinel(err); s != nil && !errors.Is(err, s) {
		return fmt.Errorf("%s %s: %w: %w", op, ref, s, err)
	}
	return fmt.Errorf("%s %s: %w", op, ref, err)
}

// sentinel classifies a registry error.
func sentinel(err error) error {
	var dm *oci.DigestMismatchError
	if errors.As(err, &dm) {
		return ErrDigestMismatch
	}
	var te *transport.Error
	if !errors.As(err, &te) {
		return nil
	}
	for _, d := range te.Errors {
		switch d.Code {
		case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
			return ErrUnauthorized
		case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode:
			return ErrNotFound
		}
	}
	switch te.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return ErrUnauthorized
	case http.StatusNotFound:
		return ErrNotFound
	}
	return nil
}
