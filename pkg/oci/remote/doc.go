// Package remote moves images between a registry and an oci.Store: Pull
// downloads one platform's image into the store, Head resolves a reference
// to a manifest digest without downloading layers, and Push uploads an
// image from the store.
//
// The registry protocol (authentication, token scopes, chunked uploads,
// cross-repository mounts) is go-containerregistry's; this package decides
// what to transfer, verifies every blob against its digest before the
// store commits it, retries transient failures and turns registry errors
// into ErrNotFound, ErrUnauthorized and ErrDigestMismatch so that callers
// can branch on them.
package remote
