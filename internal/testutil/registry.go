package testutil

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/ocibuilder/builder/internal/fsutil"
	"github.com/ocibuilder/builder/internal/registryserver"
)

// Registry is a real registry server (distribution v2) on loopback, with
// its storage in a temporary directory, running for the length of a test.
type Registry struct {
	// Host is "127.0.0.1:PORT", for references like Host+"/repo:tag".
	Host string
	// Dir is the storage root (distribution's filesystem driver layout).
	Dir string

	// user and pass are the credentials the helper methods use; empty
	// when the registry has no authentication.
	user, pass string
	// proxy is set on handles made by Proxy.
	proxy *registryProxy
	// srv is the server process.
	srv *registryserver.Server
}

// RegistryOptions configure StartRegistry.
type RegistryOptions struct {
	// Users maps user names to passwords; when non-empty the registry
	// requires HTTP basic authentication (htpasswd, bcrypt). The helper
	// methods then authenticate as the lexically first user.
	Users map[string]string
}

// StartRegistry runs /usr/bin/docker-registry on a free loopback port
// with plain HTTP, deletes enabled and its storage in t.TempDir(), and
// returns once GET /v2/ answers. The server is killed when the test
// ends; its output goes to the test log if the test failed. A missing
// docker-registry fails the test (make test-deps installs it).
func StartRegistry(t testing.TB, o RegistryOptions) *Registry {
	t.Helper()
	bin := RequireTool(t, registryserver.DefaultBinary)
	base := t.TempDir()
	r := &Registry{}
	htpasswd := ""
	if len(o.Users) > 0 {
		htpasswd = filepath.Join(base, "htpasswd")
		if err := writeHtpasswd(htpasswd, o.Users); err != nil {
			t.Fatal(err)
		}
		names := make([]string, 0, len(o.Users))
		for u := range o.Users {
			names = append(names, u)
		}
		slices.Sort(names)
		r.user, r.pass = names[0], o.Users[names[0]]
	}
	srv, err := registryserver.Start(t.Context(), registryserver.Options{
		Binary: bin, Dir: base, Htpasswd: htpasswd, Realm: "test-registry",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Stop()
		if out := srv.Output(); t.Failed() && out != "" {
			t.Logf("registry output:\n%s", out)
		}
	})
	r.Host, r.Dir, r.srv = srv.Host(), srv.StorageDir(), srv
	return r
}

// Creds returns the "user:pass" the helper methods authenticate with, or
// "" for a registry without authentication.
func (r *Registry) Creds() string {
	if r.user == "" {
		return ""
	}
	return r.user + ":" + r.pass
}

// Ref returns the docker reference of repoTag ("repo:tag" or
// "repo@sha256:...") in this registry, without a transport prefix.
func (r *Registry) Ref(repoTag string) string { return r.Host + "/" + repoTag }

// writeHtpasswd writes users as an htpasswd file of bcrypt hashes, the
// only kind distribution accepts. The lowest cost keeps the server's
// per-request checks cheap; these passwords protect nothing.
func writeHtpasswd(path string, users map[string]string) error {
	names := make([]string, 0, len(users))
	for u := range users {
		if u == "" || strings.ContainsAny(u, ":\n") {
			return fmt.Errorf("writing htpasswd: invalid user name %q", u)
		}
		names = append(names, u)
	}
	slices.Sort(names)
	var b bytes.Buffer
	for _, u := range names {
		h, err := bcrypt.GenerateFromPassword([]byte(users[u]), bcrypt.MinCost)
		if err != nil {
			return fmt.Errorf("hashing password of %s: %w", u, err)
		}
		fmt.Fprintf(&b, "%s:%s\n", u, h)
	}
	return fsutil.WriteFileAtomic(path, 0o600, func(w io.Writer) error {
		_, err := w.Write(b.Bytes())
		return err
	})
}
