package oci

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestChooseManifest(t *testing.T) {
	entry := func(n int, p *ocispec.Platform, annotations map[string]string) ocispec.Descriptor {
		return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString(fmt.Sprint(n)), Size: int64(n), Platform: p, Annotations: annotations}
	}
	plat := func(s string) *ocispec.Platform {
		parts := append(strings.Split(s, "/"), "")
		return &ocispec.Platform{OS: parts[0], Architecture: parts[1], Variant: parts[2]}
	}
	attest := map[string]string{"vnd.docker.reference.type": "attestation-manifest"}
	tests := []struct {
		name    string
		entries []ocispec.Descriptor
		want    string // os/arch[/variant]; "" for no platform
		wantN   int64  // size of the entry expected; 0 for an error
		wantErr error
		offered string // for ErrPlatformNotFound: the list the error gives
	}{
		{name: "exact match", entries: []ocispec.Descriptor{entry(1, plat("linux/amd64"), nil), entry(2, plat("linux/arm64"), nil)}, want: "linux/arm64", wantN: 2},
		{name: "several equal matches: the first", entries: []ocispec.Descriptor{entry(1, plat("linux/amd64"), nil), entry(2, plat("linux/amd64"), nil)}, want: "linux/amd64", wantN: 1},
		{name: "exact variant preferred over an earlier match", entries: []ocispec.Descriptor{entry(1, plat("linux/arm/v6"), nil), entry(2, plat("linux/arm/v7"), nil)}, want: "linux/arm", wantN: 2},
		{name: "amd64 without variant preferred over v3", entries: []ocispec.Descriptor{entry(1, plat("linux/amd64/v3"), nil), entry(2, plat("linux/amd64"), nil)}, want: "linux/amd64", wantN: 2},
		{name: "arm64 v8 is arm64", entries: []ocispec.Descriptor{entry(1, plat("linux/arm64/v8"), nil)}, want: "linux/aarch64", wantN: 1},
		{name: "asked variant must match", entries: []ocispec.Descriptor{entry(1, plat("linux/arm/v7"), nil), entry(2, plat("linux/arm/v6"), nil)}, want: "linux/arm/v6", wantN: 2},
		{name: "match without exact variant", entries: []ocispec.Descriptor{entry(1, plat("linux/arm/v5"), nil), entry(2, plat("linux/arm/v6"), nil)}, want: "linux/arm", wantN: 1},
		{name: "attestation never chosen", entries: []ocispec.Descriptor{entry(1, plat("linux/amd64"), attest), entry(2, plat("unknown/unknown"), nil), entry(3, plat("linux/amd64"), nil)}, want: "linux/amd64", wantN: 3},
		{name: "entry without platform skipped", entries: []ocispec.Descriptor{entry(1, nil, nil), entry(2, plat("linux/amd64"), nil)}, want: "linux/amd64", wantN: 2},
		{name: "none: lists what is offered", entries: []ocispec.Descriptor{entry(1, plat("linux/arm64/v8"), nil), entry(2, plat("linux/amd64"), nil), entry(3, plat("linux/amd64"), nil), entry(4, plat("unknown/unknown"), attest)}, want: "linux/s390x", wantErr: ErrPlatformNotFound, offered: "linux/amd64, linux/arm64/v8"},
		{name: "none offered", entries: []ocispec.Descriptor{entry(1, nil, nil)}, want: "linux/amd64", wantErr: ErrPlatformNotFound, offered: "none"},
		{name: "empty index", want: "linux/amd64", wantErr: ErrPlatformNotFound, offered: "none"},
		{name: "no platform, one image", entries: []ocispec.Descriptor{entry(1, nil, nil), entry(2, plat("unknown/unknown"), nil)}, wantN: 1},
		{name: "no platform, several images", entries: []ocispec.Descriptor{entry(1, plat("linux/amd64"), nil), entry(2, plat("linux/arm64"), nil)}, wantErr: ErrAmbiguous},
		{name: "no platform, no image", entries: []ocispec.Descriptor{entry(1, plat("linux/amd64"), attest)}, wantErr: ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want ocispec.Platform
			if tt.want != "" {
				want = *plat(tt.want)
			}
			got, err := ChooseManifest(tt.entries, want)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %v, %v; want %v", got.Size, err, tt.wantErr)
				}
				if tt.wantErr == ErrPlatformNotFound {
					if !errors.Is(err, ErrNotFound) {
						t.Errorf("%v does not wrap ErrNotFound", err)
					}
					if s := fmt.Sprintf("no image for platform %s (available: %s)", tt.want, tt.offered); err.Error() != s {
						t.Errorf("error %q, want %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Size != tt.wantN {
				t.Errorf("chose entry %d, want %d", got.Size, tt.wantN)
			}
		})
	}
}
