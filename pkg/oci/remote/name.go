package remote

import (
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
)

// parseReference resolves ref the way docker does ("alpine" is
// index.docker.io/library/alpine:latest) and marks loopback and listed
// registries as plain HTTP.
func parseReference(ref string, o Options) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("parsing reference %q: %w", ref, err)
	}
	if !allowsPlainHTTP(r.Context().RegistryStr(), o.Insecure) {
		return r, nil
	}
	r, err = name.ParseReference(ref, name.Insecure)
	if err != nil {
		return nil, fmt.Errorf("parsing reference %q: %w", ref, err)
	}
	return r, nil
}

// parseRepository parses a repository name ("registry/path") the same way.
func parseRepository(repo string, o Options) (name.Repository, error) {
	r, err := name.NewRepository(repo)
	if err != nil {
		return name.Repository{}, fmt.Errorf("parsing repository %q: %w", repo, err)
	}
	if !allowsPlainHTTP(r.RegistryStr(), o.Insecure) {
		return r, nil
	}
	return name.NewRepository(repo, name.Insecure)
}
