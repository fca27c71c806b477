package remote

import (
	"fmt"

	"github.com/docker/cli/cli/config"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// DockerConfigKeychain returns a keychain that reads dir/config.json, in
// Docker's format ("auths", "credsStore", "credHelpers"), whenever
// credentials are needed. It is authn.DefaultKeychain for one fixed
// directory, leaving the environment and ~/.docker alone. A registry
// without an entry is accessed anonymously.
func DockerConfigKeychain(dir string) authn.Keychain { return configKeychain{dir: dir} }

type configKeychain struct{ dir string }

// Resolve looks up the credentials for target's repository, then for its
// registry.
func (k configKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	if k.dir == "" {
		// config.Load would fall back to the process-wide default.
		return authn.Anonymous, nil
	}
	cf, err := config.Load(k.dir)
	if err != nil {
		return nil, fmt.Errorf("loading docker config in %s: %w", k.dir, err)
	}
	for _, key := range []string{target.String(), target.RegistryStr()} {
		if key == name.DefaultRegistry {
			// Docker Hub's entry keeps its historical key.
			key = authn.DefaultAuthKey
		}
		ac, err := cf.GetAuthConfig(key)
		if err != nil {
			return nil, fmt.Errorf("reading credentials for %s from %s: %w", key, k.dir, err)
		}
		cfg := authn.AuthConfig{
			Username:      ac.Username,
			Password:      ac.Password,
			Auth:          ac.Auth,
			IdentityToken: ac.IdentityToken,
			RegistryToken: ac.RegistryToken,
		}
		if cfg != (authn.AuthConfig{}) {
			return authn.FromConfig(cfg), nil
		}
	}
	return authn.Anonymous, nil
}
