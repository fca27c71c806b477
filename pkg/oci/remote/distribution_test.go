package remote

import (
	"context"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/internal/testutil"
)

// TestDistributionRegistry runs against the reference registry server,
// which, unlike the in-process one, keeps blobs per repository and so
// shows cross-repository mounts and per-repository existence checks.
func TestDistributionRegistry(t *testing.T) {
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{Users: map[string]string{"carol": "pw"}})
	o := fastOptions()
	o.Keychain = DockerConfigKeychain(dockerConfigDir(t, reg.Host, "carol", "pw"))
	s := newStore(t)
	img := localImage(t, s, map[string]string{"base": "base layer"}, map[string]string{"app": "app layer"})
	base := reg.Ref("library/base:1")
	desc, err := Push(context.Background(), img, base, o)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		mountFrom []string
		want      string // action reported for every layer
	}{
		{"no mount source uploads", nil, ActionPush},
		{"mount source on the same registry", []string{"other.example/x", reg.Host + "/library/base"}, ActionMounted},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec recorder
			o := o
			o.MountFrom = tt.mountFrom
			o.Progress = rec.add
			ref := reg.Ref("team/app" + string(rune('a'+i)) + ":v1")
			got, err := Push(context.Background(), img, ref, o)
			if err != nil {
				t.Fatal(err)
			}
			if got.Digest != desc.Digest {
				t.Errorf("pushed %s, want %s", got.Digest, desc.Digest)
			}
			acts := rec.actions()
			for _, l := range img.Layers {
				if acts[l.Digest] != tt.want {
					t.Errorf("layer %s: %q, want %q", l.Digest, acts[l.Digest], tt.want)
				}
			}
			_, pulled, err := Pull(context.Background(), ref, ocispec.Platform{}, newStore(t), o)
			if err != nil {
				t.Fatal(err)
			}
			if pulled.Digest != desc.Digest {
				t.Errorf("pulled %s, want %s", pulled.Digest, desc.Digest)
			}
		})
	}
}
