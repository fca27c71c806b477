package remote

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// requireBasicAuth answers 401 unless the request carries user:pass.
func requireBasicAuth(user, pass string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, p, ok := r.BasicAuth()
			if !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// dockerConfigDir writes a config.json holding user:pass for host.
func dockerConfigDir(t *testing.T, host, user, pass string) string {
	t.Helper()
	dir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	data, err := json.Marshal(map[string]any{"auths": map[string]any{host: map[string]string{"auth": auth}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestAuth(t *testing.T) {
	reg := startRegistry(t, requireBasicAuth("alice", "s3cret"))
	ref := reg.ref("private/app:v1")
	good := dockerConfigDir(t, reg.host, "alice", "s3cret")
	bad := dockerConfigDir(t, reg.host, "alice", "wrong")
	img := localImage(t, newStore(t), map[string]string{"a": "1"})

	// The image gets there with the right credentials first.
	if _, err := Push(context.Background(), img, ref, Options{Keychain: DockerConfigKeychain(good)}); err != nil {
		t.Fatalf("pushing with credentials: %v", err)
	}
	tests := []struct {
		name     string
		keychain authn.Keychain
		env      string // DOCKER_CONFIG for the default keychain
		wantErr  bool
	}{
		{"default keychain from DOCKER_CONFIG", nil, good, false},
		{"explicit config directory", DockerConfigKeychain(good), "", false},
		{"multi keychain", authn.NewMultiKeychain(DockerConfigKeychain(t.TempDir()), DockerConfigKeychain(good)), "", false},
		{"no credentials", DockerConfigKeychain(t.TempDir()), "", true},
		{"wrong password", DockerConfigKeychain(bad), "", true},
		{"default keychain, wrong password", nil, bad, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The default keychain reads ~/.docker before $DOCKER_CONFIG;
			// an empty home keeps the machine's own out of the test.
			t.Setenv("HOME", t.TempDir())
			t.Setenv("DOCKER_CONFIG", tt.env)
			o := fastOptions()
			o.Keychain = tt.keychain
			_, _, pullErr := Pull(context.Background(), ref, ocispec.Platform{}, newStore(t), o)
			_, headErr := Head(context.Background(), ref, ocispec.Platform{}, o)
			_, pushErr := Push(context.Background(), img, reg.ref("private/app:v2"), o)
			for op, err := range map[string]error{"pull": pullErr, "head": headErr, "push": pushErr} {
				if !tt.wantErr {
					if err != nil {
						t.Errorf("%s: %v", op, err)
					}
					continue
				}
				if !errors.Is(err, ErrUnauthorized) {
					t.Errorf("%s: got %v, want ErrUnauthorized", op, err)
					continue
				}
				if !strings.Contains(err.Error(), "private/app:v") {
					t.Errorf("%s: error %q does not name the reference", op, err)
				}
			}
		})
	}
}

func TestDockerConfigKeychain(t *testing.T) {
	dir := dockerConfigDir(t, "registry.example:5000", "bob", "pw")
	hub := dockerConfigDir(t, authn.DefaultAuthKey, "hubuser", "hubpw")
	tests := []struct {
		name     string
		dir      string
		ref      string
		wantUser string
	}{
		{"registry entry", dir, "registry.example:5000/app:v1", "bob"},
		{"other registry is anonymous", dir, "other.example/app:v1", ""},
		{"docker hub key", hub, "alpine", "hubuser"},
		{"missing directory", filepath.Join(t.TempDir(), "nope"), "registry.example:5000/app", ""},
		{"empty directory name", "", "registry.example:5000/app", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseReference(tt.ref, Options{})
			if err != nil {
				t.Fatal(err)
			}
			a, err := DockerConfigKeychain(tt.dir).Resolve(r.Context())
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := a.Authorization()
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Username != tt.wantUser {
				t.Errorf("user %q, want %q", cfg.Username, tt.wantUser)
			}
		})
	}
}
