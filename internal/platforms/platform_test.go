package platforms

import (
	"runtime"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestDefault(t *testing.T) {
	if got := Default(); got.OS != "linux" || got.Architecture != runtime.GOARCH || got.Variant != "" {
		t.Errorf("Default() = %+v, want linux/%s", got, runtime.GOARCH)
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		in   ocispec.Platform
		want string
	}{
		{ocispec.Platform{OS: "linux", Architecture: "amd64"}, "linux/amd64"},
		{ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, "linux/arm/v7"},
		{ocispec.Platform{OS: "linux", Architecture: "arm64", OSVersion: "6.1"}, "linux/arm64"},
		{ocispec.Platform{}, "/"},
	}
	for _, tt := range tests {
		if got := Format(tt.in); got != tt.want {
			t.Errorf("Format(%+v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
