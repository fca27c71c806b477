// Package platforms holds the builder's default platform and the one way it
// writes a platform, shared by the parser (TARGETPLATFORM, BUILDPLATFORM),
// the executor and the image packages.
package platforms

import (
	"runtime"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Default returns the platform images are built for and pulled for when
// none is given: Linux on the architecture the builder runs on. The OS is
// always linux, whatever the host's, because RUN steps run Linux
// programs; on macOS this is what docker picks too.
func Default() ocispec.Platform {
	return ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}
}

// Format writes p as os/arch[/variant] ("linux/arm64", "linux/arm/v7"),
// the form of --platform and of docker's TARGETPLATFORM.
func Format(p ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}
