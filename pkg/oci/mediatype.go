package oci

import ocispec "github.com/opencontainers/image-spec/specs-go/v1"

// Docker schema 2 media types that OCI tools accept as input.
const (
	// MediaTypeDockerManifest is Docker's image manifest (schema 2).
	MediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	// MediaTypeDockerManifestList is Docker's multi-platform index.
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	// MediaTypeDockerConfig is Docker's image config.
	MediaTypeDockerConfig = "application/vnd.docker.container.image.v1+json"

	mediaTypeDockerLayerGzip    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	mediaTypeDockerLayerForeign = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
	mediaTypeDockerLayerZstd    = "application/vnd.docker.image.rootfs.diff.tar.zstd"
)

// layerCompression is how a layer blob is encoded.
type layerCompression uint8

const (
	compressionUnknown layerCompression = iota
	compressionNone
	compressionGzip
	compressionZstd
)

// compressionOf maps a layer media type to its encoding.
func compressionOf(mediaType string) layerCompression {
	switch mediaType {
	case ocispec.MediaTypeImageLayer, ocispec.MediaTypeImageLayerNonDistributable: //nolint:staticcheck // still valid input
		return compressionNone
	case ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayerNonDistributableGzip, //nolint:staticcheck // still valid input
		mediaTypeDockerLayerGzip, mediaTypeDockerLayerForeign:
		return compressionGzip
	case ocispec.MediaTypeImageLayerZstd, ocispec.MediaTypeImageLayerNonDistributableZstd, //nolint:staticcheck // still valid input
		mediaTypeDockerLayerZstd:
		return compressionZstd
	}
	return compressionUnknown
}

// ociLayerMediaType returns the OCI name for a Docker layer media type and
// any other media type unchanged.
func ociLayerMediaType(mediaType string) string {
	switch mediaType {
	case mediaTypeDockerLayerGzip:
		return ocispec.MediaTypeImageLayerGzip
	case mediaTypeDockerLayerZstd:
		return ocispec.MediaTypeImageLayerZstd
	case mediaTypeDockerLayerForeign:
		return ocispec.MediaTypeImageLayerNonDistributableGzip //nolint:staticcheck // the OCI equivalent
	}
	return mediaType
}

// LayerMediaTypeSupported reports whether layers of this media type can be
// unpacked: uncompressed, gzip or zstd tars in their OCI or Docker names.
func LayerMediaTypeSupported(mediaType string) bool {
	return compressionOf(mediaType) != compressionUnknown
}

// IsManifestMediaType reports an image manifest, OCI or Docker.
func IsManifestMediaType(mt string) bool {
	return mt == ocispec.MediaTypeImageManifest || mt == MediaTypeDockerManifest
}

// IsIndexMediaType reports an image index, OCI or Docker manifest list.
func IsIndexMediaType(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == MediaTypeDockerManifestList
}

// IsConfigMediaType reports an image config, OCI or Docker.
func IsConfigMediaType(mt string) bool {
	return mt == ocispec.MediaTypeImageConfig || mt == MediaTypeDockerConfig
}
