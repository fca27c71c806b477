package layer

import (
	"fmt"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// String returns "gzip", "zstd" or "uncompressed".
func (c Compression) String() string {
	switch c {
	case Gzip:
		return "gzip"
	case Zstd:
		return "zstd"
	case Uncompressed:
		return "uncompressed"
	}
	return fmt.Sprintf("compression(%d)", uint8(c))
}

// MediaType returns the OCI layer media type for blobs compressed with c.
func (c Compression) MediaType() (string, error) {
	switch c {
	case Gzip:
		return ocispec.MediaTypeImageLayerGzip, nil
	case Zstd:
		return ocispec.MediaTypeImageLayerZstd, nil
	case Uncompressed:
		return ocispec.MediaTypeImageLayer, nil
	}
	return "", fmt.Errorf("choosing media type: unknown %s", c)
}

// ParseCompression parses a compression name: "gzip", "zstd",
// "uncompressed" or its synonym "none", case-insensitively.
func ParseCompression(s string) (Compression, error) {
	switch strings.ToLower(s) {
	case "gzip":
		return Gzip, nil
	case "zstd":
		return Zstd, nil
	case "uncompressed", "none":
		return Uncompressed, nil
	}
	return 0, fmt.Errorf("parsing compression %q: want gzip, zstd or uncompressed", s)
}
