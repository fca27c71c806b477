package remote

import (
	"encoding/json"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/pkg/oci"
)

// Docker schema 2 and schema 1 media types.
const (
	mediaTypeDockerSchema1        = "application/vnd.docker.distribution.manifest.v1+json"
	mediaTypeDockerSchema1Signed  = "application/vnd.docker.distribution.manifest.v1+prettyjws"
	attestationReferenceTypeKey   = "vnd.docker.reference.type"
	attestationReferenceTypeValue = "attestation-manifest"
)

// documentType returns the media type of a manifest or index. Registries
// that answer with a generic Content-Type are common enough that the
// document's own mediaType field, and failing that its shape, decide.
func documentType(contentType string, raw []byte) string {
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.TrimSpace(mt)
	if oci.IsIndexMediaType(mt) || oci.IsManifestMediaType(mt) || mt == mediaTypeDockerSchema1 || mt == mediaTypeDockerSchema1Signed {
		return mt
	}
	var probe struct {
		MediaType     string          `json:"mediaType"`
		SchemaVersion int             `json:"schemaVersion"`
		Manifests     json.RawMessage `json:"manifests"`
		Config        json.RawMessage `json:"config"`
	}
	if json.Unmarshal(raw, &probe) != nil {
		return mt
	}
	switch {
	case probe.MediaType != "":
		return probe.MediaType
	case probe.SchemaVersion == 1:
		return mediaTypeDockerSchema1
	case probe.Manifests != nil:
		return ocispec.MediaTypeImageIndex
	case probe.Config != nil:
		return ocispec.MediaTypeImageManifest
	}
	return mt
}
