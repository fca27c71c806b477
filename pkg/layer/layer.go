// Package layer turns filesystem changes into deterministic OCI layer tars,
// encodes them (diffID, compression and blob digest in one streaming pass),
// and applies layers safely onto a directory.
//
// The whiteout rules follow the OCI image spec:
// https://github.com/opencontainers/image-spec/blob/main/layer.md#whiteouts
package layer

import (
	"context"
	"io/fs"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ChangeKind says how a path differs from the layers below it.
type ChangeKind uint8

const (
	// ChangeAdd is a path that did not exist below.
	ChangeAdd ChangeKind = iota + 1
	// ChangeModify is a path that existed below and differs now (content,
	// type or metadata).
	ChangeModify
	// ChangeDelete is a path that existed below and is gone now. It becomes
	// a ".wh." whiteout entry.
	ChangeDelete
)

// String returns "add", "modify" or "delete".
func (k ChangeKind) String() string {
	switch k {
	case ChangeAdd:
		return "add"
	case ChangeModify:
		return "modify"
	case ChangeDelete:
		return "delete"
	}
	return "unknown"
}

// ChangeFunc receives one change. path is slash-separated, clean and relative
// to the layer root ("usr/bin/sh", never "/usr" or "./usr"). fi is the
// Lstat of the new entry; it is nil for ChangeDelete.
type ChangeFunc func(k ChangeKind, path string, fi fs.FileInfo) error

// Changes reports a tree difference by calling fn once per changed path, in
// lexical order of the path's components (a directory before its children).
// It stops at the first error fn returns and returns it.
type Changes func(ctx context.Context, fn ChangeFunc) error

// TarOptions controls how WriteTar renders changes.
type TarOptions struct {
	// SourceDateEpoch, when set, clamps every mtime to at most this time.
	SourceDateEpoch *time.Time
}

// Compression is the encoding of a layer blob.
type Compression uint8

const (
	// Gzip is the default layer compression.
	Gzip Compression = iota
	// Zstd compresses with zstd.
	Zstd
	// Uncompressed stores the tar as is.
	Uncompressed
)

// EncodeOptions controls Encode.
type EncodeOptions struct {
	Compression Compression
	// Level is the compression level: 1..9 for gzip, 1..22 for zstd; 0
	// means the encoder's default. An uncompressed layer takes only 0.
	Level int
}

// Desc describes an encoded layer blob.
type Desc struct {
	// Digest is the sha256 of the blob as stored (compressed).
	Digest digest.Digest
	// DiffID is the sha256 of the uncompressed tar.
	DiffID digest.Digest
	// Size is the blob size in bytes.
	Size int64
	// MediaType is the OCI layer media type matching the compression.
	MediaType string
}

// Descriptor is the layer's descriptor for a manifest.
func (d Desc) Descriptor() ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
}

// WhiteoutFormat selects how Apply records deletions.
type WhiteoutFormat uint8

const (
	// WhiteoutOCI applies a layer onto a full root filesystem: a ".wh.x"
	// entry removes x, an opaque marker empties the directory of entries
	// not written by the same layer.
	WhiteoutOCI WhiteoutFormat = iota
	// WhiteoutOverlay extracts a layer into its own directory for use as an
	// overlayfs lower directory: ".wh.x" becomes a 0/0 character device x,
	// an opaque marker becomes the trusted.overlay.opaque="y" xattr.
	WhiteoutOverlay
)

// ApplyOptions controls Apply.
type ApplyOptions struct {
	Whiteouts WhiteoutFormat
	// NoSameOwner skips chown (for unprivileged callers).
	NoSameOwner bool
	// MaxSize bounds the uncompressed bytes Apply accepts; 0 means no
	// limit. Both the decompressed tar stream and the sum of the files'
	// sizes are held to it: a file counts with its full size, holes and
	// runs of zeros included, so neither a compression bomb nor a sparse
	// file can expand past it. A file whose size would pass the limit
	// fails before any of it is written. Exceeding it fails Apply with a
	// *SizeLimitError.
	MaxSize int64
	// SkipDevices, when set, keeps character and block devices, and hard
	// links to them in the same layer, out of root: each such entry only
	// removes what was at its path, and SkipDevices is called with its
	// name. Extracting onto the host for a user (a rootfs export) sets it,
	// so that an image never creates a live device node there.
	SkipDevices func(name string)
	// Owner, when set, owns every extracted entry instead of the owners
	// the archive records (ADD --chown of a local archive). NoSameOwner
	// takes precedence.
	Owner *Owner
}

// Owner is a numeric user and group.
type Owner struct{ UID, GID int }
