package remote

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/pkg/oci"
)

func TestPushThenPull(t *testing.T) {
	reg := startRegistry(t, nil)
	s := newStore(t)
	img := localImage(t, s, map[string]string{"etc/hello": "hello\n"}, map[string]string{"bin/app": "#!/bin/sh\n"})
	local, _, err := img.Manifest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ref := reg.ref("team/app:v1")
	desc, err := Push(context.Background(), img, ref, fastOptions())
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != local.Digest || desc.Size != local.Size {
		t.Errorf("pushed %s (%d bytes), local manifest is %s (%d bytes)", desc.Digest, desc.Size, local.Digest, local.Size)
	}
	if desc.MediaType != ocispec.MediaTypeImageManifest {
		t.Errorf("media type %q", desc.MediaType)
	}
	for _, r := range []string{ref, reg.ref("team/app@" + local.Digest.String())} {
		t.Run(r, func(t *testing.T) {
			s2 := newStore(t)
			got, gdesc, err := Pull(context.Background(), r, ocispec.Platform{}, s2, fastOptions())
			if err != nil {
				t.Fatal(err)
			}
			if gdesc.Digest != local.Digest {
				t.Errorf("pulled manifest %s, want %s", gdesc.Digest, local.Digest)
			}
			if len(got.Layers) != len(img.Layers) {
				t.Fatalf("pulled %d layers, want %d", len(got.Layers), len(img.Layers))
			}
			for i, l := range img.Layers {
				if got.Layers[i].Digest != l.Digest {
					t.Errorf("layer %d: %s, want %s", i, got.Layers[i].Digest, l.Digest)
				}
				if string(storeBytes(t, s2, l.Digest)) != string(storeBytes(t, s, l.Digest)) {
					t.Errorf("layer %d bytes differ", i)
				}
			}
			if got.Config.Config.Cmd[0] != "/bin/app" || got.Config.Created == nil || !got.Config.Created.Equal(*img.Config.Created) {
				t.Errorf("config did not survive: %+v", got.Config)
			}
			again, _, err := got.Manifest(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if again.Digest != local.Digest {
				t.Errorf("pulled image rebuilds manifest %s, want %s", again.Digest, local.Digest)
			}
		})
	}
}

func TestPushSkipsExistingBlobs(t *testing.T) {
	reg := startRegistry(t, nil)
	s := newStore(t)
	img := localImage(t, s, map[string]string{"a": "1"}, map[string]string{"b": "2"})
	if _, err := Push(context.Background(), img, reg.ref("app:v1"), fastOptions()); err != nil {
		t.Fatal(err)
	}
	if n := reg.uploads(); n == 0 {
		t.Fatal("first push uploaded nothing")
	}
	reg.reset()
	var rec recorder
	o := fastOptions()
	o.Progress = rec.add
	if _, err := Push(context.Background(), img, reg.ref("app:v2"), o); err != nil {
		t.Fatal(err)
	}
	if n := reg.uploads(); n != 0 {
		t.Errorf("second push made %d upload requests, want none", n)
	}
	if n := reg.count("HEAD", "/blobs/"); n != 3 {
		t.Errorf("second push checked %d blobs, want 3", n)
	}
	if n := reg.count("PUT", "/manifests/v2"); n != 1 {
		t.Errorf("second push put %d manifests, want 1", n)
	}
	acts := rec.actions()
	for _, l := range img.Layers {
		if acts[l.Digest] != ActionExists {
			t.Errorf("layer %s reported %q, want %q", l.Digest, acts[l.Digest], ActionExists)
		}
	}
}

func TestPushReportsUploads(t *testing.T) {
	reg := startRegistry(t, nil)
	s := newStore(t)
	img := localImage(t, s, map[string]string{"big": strings.Repeat("x", 1<<20)})
	var rec recorder
	o := fastOptions()
	o.Progress = rec.add
	if _, err := Push(context.Background(), img, reg.ref("app:v1"), o); err != nil {
		t.Fatal(err)
	}
	l := img.Layers[0]
	var last Update
	for _, u := range rec.updates {
		if u.Digest == l.Digest {
			last = u
		}
	}
	if last.Action != ActionPush || last.Done != l.Size || last.Total != l.Size {
		t.Errorf("last update for the layer %+v, want a finished push of %d bytes", last, l.Size)
	}
}

func TestPushRefusesDamagedBlob(t *testing.T) {
	reg := startRegistry(t, nil)
	s := newStore(t)
	img := localImage(t, s, map[string]string{"a": strings.Repeat("a", 4096)})
	p := s.Path(img.Layers[0].Digest)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	ref := reg.ref("app:v1")
	_, err = Push(context.Background(), img, ref, fastOptions())
	if err == nil {
		t.Fatal("pushed an image whose layer no longer matches its digest")
	}
	var dm *oci.DigestMismatchError
	if !errors.As(err, &dm) || !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("got %v, want a digest mismatch", err)
	}
	if n := reg.count("PUT", "/manifests/"); n != 0 {
		t.Errorf("a manifest was put despite the damaged blob")
	}
}

func TestPushDigestReference(t *testing.T) {
	reg := startRegistry(t, nil)
	s := newStore(t)
	img := localImage(t, s, map[string]string{"a": "1"})
	local, _, err := img.Manifest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	other := "sha256:" + strings.Repeat("0", 64)
	if _, err := Push(context.Background(), img, reg.ref("app@"+other), fastOptions()); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("push to a foreign digest: got %v, want ErrDigestMismatch", err)
	}
	if _, err := Push(context.Background(), img, reg.ref("app@"+local.Digest.String()), fastOptions()); err != nil {
		t.Errorf("push by own digest: %v", err)
	}
}
