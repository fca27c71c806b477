package images

import (
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// fakeDesc is a manifest descriptor with a digest built from a hex prefix,
// so that tests control which digests share prefixes.
func fakeDesc(prefix string) ocispec.Descriptor {
	hex := prefix + strings.Repeat("0", 64-len(prefix))
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.NewDigestFromEncoded(digest.SHA256, hex), Size: 100}
}

func TestResolve(t *testing.T) {
	a := fakeDesc("aaaa1")
	b := fakeDesc("aaaa2")
	c := fakeDesc("c0ffee")
	named := fakeDesc("abc9") // its ID starts like the name "abc" of another image
	images := map[string]ocispec.Descriptor{
		"docker.io/library/app:1":      a,
		"docker.io/library/app:latest": b,
		"docker.io/library/app:b":      b,
		"ghcr.io/org/tool:v2":          c,
		"docker.io/library/abc:latest": c,
		"docker.io/library/other:1":    named,
	}
	tests := []struct {
		ref     string
		want    digest.Digest
		wantErr error
	}{
		{ref: "app:1", want: a.Digest},
		{ref: "docker.io/library/app:1", want: a.Digest},
		{ref: "library/app:1", want: a.Digest},
		{ref: "index.docker.io/library/app:1", want: a.Digest},
		{ref: "app", want: b.Digest},
		{ref: "app:latest", want: b.Digest},
		{ref: "ghcr.io/org/tool:v2", want: c.Digest},
		{ref: "ghcr.io/org/tool", wantErr: ErrNotFound},
		{ref: "app:2", wantErr: ErrNotFound},
		{ref: a.Digest.String(), want: a.Digest},
		{ref: fakeDesc("ffff").Digest.String(), wantErr: ErrNotFound},
		{ref: "sha512:" + strings.Repeat("a", 128), wantErr: ErrNotFound},
		{ref: "app@" + a.Digest.String(), want: a.Digest},
		{ref: "app@" + b.Digest.String(), want: b.Digest},
		{ref: "app:1@" + a.Digest.String(), want: a.Digest},
		{ref: "app:1@" + b.Digest.String(), wantErr: ErrNotFound},
		{ref: "tool@" + c.Digest.String(), wantErr: ErrNotFound}, // a different repository
		{ref: "aaaa1", want: a.Digest},
		{ref: "sha256:aaaa2", want: b.Digest},
		{ref: "c0f", want: c.Digest},
		{ref: "aaaa", wantErr: ErrAmbiguous},
		{ref: "sha256:a", wantErr: ErrAmbiguous},
		{ref: "abc", want: c.Digest}, // a name wins over an ID prefix
		{ref: "abc9", want: named.Digest},
		{ref: "AAAA1", wantErr: ErrNotFound},
		{ref: "sha256:", wantErr: ErrNotFound},
		{ref: "", wantErr: ErrNotFound},
		{ref: "../../etc/passwd", wantErr: ErrNotFound},
		{ref: strings.Repeat("a", 65), wantErr: ErrNotFound}, // a valid name, not in the index; too long for an ID
	}
	for _, tc := range tests {
		t.Run(tc.ref, func(t *testing.T) {
			got, err := resolve(images, tc.ref)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("resolve(%q) = %v, %v; want error %v", tc.ref, got.Digest, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("resolve(%q): %v", tc.ref, err)
			}
			if got.Digest != tc.want {
				t.Errorf("resolve(%q) = %s, want %s", tc.ref, got.Digest, tc.want)
			}
		})
	}
}
