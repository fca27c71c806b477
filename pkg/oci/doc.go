// Package oci stores content-addressed blobs and turns a built image into
// the outputs consumers read: an OCI image layout directory or tar, and a
// plain root filesystem. It also imports images from OCI layouts.
//
// Every blob is verified against its digest when it is stored and again
// when it is read back, and every output is written atomically.
//
// The formats are the OCI image spec's:
// https://github.com/opencontainers/image-spec/blob/main/image-layout.md
package oci
