package remote

import (
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/pkg/oci"
)

// FuzzRegistryDocuments feeds hostile manifests and indexes to the code
// that reads what a registry sends: nothing may panic, a chosen index
// entry must match the platform and never be an attestation, and an
// accepted manifest must only name sha256 blobs of supported types.
func FuzzRegistryDocuments(f *testing.F) {
	cfg := digest.FromString("config")
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"`+cfg.String()+`","size":1,"platform":{"os":"linux","architecture":"amd64"}}]}`), "linux", "amd64", "")
	f.Add([]byte(`{"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"`+cfg.String()+`","size":1,"platform":{"os":"linux","architecture":"arm","variant":"v6"},"annotations":{"vnd.docker.reference.type":"attestation-manifest"}}]}`), "linux", "arm", "v6")
	f.Add([]byte(`{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"`+cfg.String()+`","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:../../etc","size":3}]}`), "", "", "")
	f.Add([]byte(`{"schemaVersion":2,"config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"`+cfg.String()+`","size":-1},"layers":null}`), "linux", "aarch64", "")
	f.Add([]byte(`{"manifests":[{"digest":"sha512:00","platform":{}}]}`), "", "", "")
	f.Add([]byte(`[]`), "linux", "amd64", "")
	f.Fuzz(func(t *testing.T, raw []byte, os, arch, variant string) {
		want := ocispec.Platform{OS: os, Architecture: arch, Variant: variant}
		_ = documentType("", raw)
		if e, err := choosePlatform(raw, want); err == nil {
			if e.Platform == nil || !oci.PlatformMatches(defaultPlatform(want), *e.Platform) {
				t.Fatalf("chose %+v for %+v", e.Platform, want)
			}
			if e.Annotations[attestationReferenceTypeKey] == attestationReferenceTypeValue {
				t.Fatal("chose an attestation")
			}
			if e.Digest.Validate() != nil {
				t.Fatalf("chose invalid digest %q", e.Digest)
			}
		}
		m, err := parseManifest(raw)
		if err != nil {
			return
		}
		if !oci.IsConfigMediaType(m.Config.MediaType) || checkDigest(m.Config.Digest) != nil || m.Config.Size > maxDocumentSize {
			t.Fatalf("accepted config %+v", m.Config)
		}
		for _, l := range m.Layers {
			if checkDigest(l.Digest) != nil || !oci.LayerMediaTypeSupported(l.MediaType) || l.Size < 0 {
				t.Fatalf("accepted layer %+v", l)
			}
		}
	})
}
