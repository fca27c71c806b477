package oci

import ocispec "github.com/opencontainers/image-spec/specs-go/v1"

// Docker schema 2 media types that OCI tools accept as input.
const (
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
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
