package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/pkg/oci"
)

func TestDocumentType(t *testing.T) {
	tests := []struct {
		name, contentType, body, want string
	}{
		{"oci manifest header", ocispec.MediaTypeImageManifest, `{}`, ocispec.MediaTypeImageManifest},
		{"header with parameters", oci.MediaTypeDockerManifestList + "; charset=utf-8", `{}`, oci.MediaTypeDockerManifestList},
		{"generic header, mediaType field", "application/json", `{"mediaType":"` + ocispec.MediaTypeImageIndex + `"}`, ocispec.MediaTypeImageIndex},
		{"no header, index shape", "", `{"schemaVersion":2,"manifests":[]}`, ocispec.MediaTypeImageIndex},
		{"no header, manifest shape", "", `{"schemaVersion":2,"config":{}}`, ocispec.MediaTypeImageManifest},
		{"schema 1", "text/plain", `{"schemaVersion":1}`, mediaTypeDockerSchema1},
		{"garbage", "text/plain", `not json`, "text/plain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := documentType(tt.contentType, []byte(tt.body)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func indexJSON(t testing.TB, entries ...ocispec.Descriptor) []byte {
	t.Helper()
	b, err := json.Marshal(ocispec.Index{Manifests: entries})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func entry(n int, p *ocispec.Platform, annotations map[string]string) ocispec.Descriptor {
	return ocispec.Descriptor{
		MediaType:   ocispec.MediaTypeImageManifest,
		Digest:      digest.FromString(fmt.Sprint(n)),
		Size:        int64(n),
		Platform:    p,
		Annotations: annotations,
	}
}

func TestChoosePlatform(t *testing.T) {
	amd := &ocispec.Platform{OS: "linux", Architecture: "amd64"}
	armv7 := &ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}
	armv6 := &ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}
	unknown := &ocispec.Platform{OS: "unknown", Architecture: "unknown"}
	attest := map[string]string{attestationReferenceTypeKey: attestationReferenceTypeValue}
	// An attestation claiming a real platform must still never be chosen.
	attestAmd := entry(9, amd, attest)
	tests := []struct {
		name    string
		entries []ocispec.Descriptor
		want    ocispec.Platform
		wantN   int64 // size of the entry expected; 0 for an error
	}{
		{"first match", []ocispec.Descriptor{entry(1, amd, nil), entry(2, armv7, nil)}, *amd, 1},
		{"skips attestations", []ocispec.Descriptor{attestAmd, entry(3, unknown, attest), entry(4, amd, nil)}, *amd, 4},
		{"arm defaults to v7", []ocispec.Descriptor{entry(5, armv6, nil), entry(6, armv7, nil)}, ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, 6},
		{"arm variant v6", []ocispec.Descriptor{entry(6, armv7, nil), entry(5, armv6, nil)}, ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}, 5},
		{"entry without platform ignored", []ocispec.Descriptor{entry(7, nil, nil)}, *amd, 0},
		{"only attestation", []ocispec.Descriptor{attestAmd}, *amd, 0},
		{"empty index", nil, *amd, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := choosePlatform(indexJSON(t, tt.entries...), tt.want)
			if tt.wantN == 0 {
				if !errors.Is(err, ErrPlatformNotFound) {
					t.Fatalf("got %v, want ErrPlatformNotFound", err)
				}
				if strings.Contains(err.Error(), "unknown/unknown") {
					t.Errorf("error %q lists attestation platforms", err)
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

func TestSentinel(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"404", &transport.Error{StatusCode: http.StatusNotFound}, ErrNotFound},
		{"manifest unknown on 400", &transport.Error{StatusCode: http.StatusBadRequest, Errors: []transport.Diagnostic{{Code: transport.ManifestUnknownErrorCode}}}, ErrNotFound},
		{"name unknown", &transport.Error{StatusCode: http.StatusNotFound, Errors: []transport.Diagnostic{{Code: transport.NameUnknownErrorCode}}}, ErrNotFound},
		{"401", &transport.Error{StatusCode: http.StatusUnauthorized}, ErrUnauthorized},
		{"403", &transport.Error{StatusCode: http.StatusForbidden}, ErrUnauthorized},
		{"denied on 404", &transport.Error{StatusCode: http.StatusNotFound, Errors: []transport.Diagnostic{{Code: transport.DeniedErrorCode}}}, ErrUnauthorized},
		{"mismatch", fmt.Errorf("x: %w", &oci.DigestMismatchError{}), ErrDigestMismatch},
		{"500", &transport.Error{StatusCode: http.StatusInternalServerError}, nil},
		{"plain", errors.New("boom"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sentinel(tt.err); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			wrapped := wrapErr("pulling", "app:v1", tt.err)
			if tt.want != nil && !errors.Is(wrapped, tt.want) {
				t.Errorf("wrapped error %v does not match %v", wrapped, tt.want)
			}
			if tt.want == ErrNotFound && !errors.Is(wrapped, oci.ErrNotFound) {
				t.Errorf("wrapped error %v does not match oci.ErrNotFound", wrapped)
			}
			if !errors.Is(wrapped, tt.err) || !strings.Contains(wrapped.Error(), "pulling app:v1") {
				t.Errorf("wrapped error %q lost the cause or the reference", wrapped)
			}
		})
	}
}

func TestIsTransient(t *testing.T) {
	unavailable := transport.CheckError(&http.Response{StatusCode: http.StatusServiceUnavailable, Body: io.NopCloser(strings.NewReader(""))}, http.StatusOK)
	tests := []struct {
		name            string
		err             error
		transient, body bool
	}{
		{"broken body", fmt.Errorf("read: %w", errors.Join(errors.New("x"), errUnexpectedEOF())), true, true},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), true, true},
		// The transport retries these; the blob loop must not multiply that.
		{"503", unavailable, true, false},
		{"mismatch", &oci.DigestMismatchError{}, false, false},
		{"cancelled", fmt.Errorf("pulling: %w", contextCanceled()), false, false},
		{"nil", nil, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isTransient(tt.err); got != tt.transient {
				t.Errorf("isTransient(%v) = %v, want %v", tt.err, got, tt.transient)
			}
			if got := retryAgain(tt.err); got != tt.body {
				t.Errorf("retryAgain(%v) = %v, want %v", tt.err, got, tt.body)
			}
		})
	}
}

func errUnexpectedEOF() error { return io.ErrUnexpectedEOF }
func contextCanceled() error  { return context.Canceled }
