// Package depcheck holds the test that keeps the packages' dependencies
// flowing one way: parser → executor → layer/oci, with the CLI on top.
package depcheck

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/ocibuilder/builder/"

// rules lists, per package, the module packages it may depend on
// (transitively) and outside modules it must not pull in.
var rules = []struct {
	pkg       string
	allowed   []string
	forbidden []string
}{
	{pkg: "pkg/layer", allowed: []string{"internal/fsutil", "internal/units"}, forbidden: []string{"github.com/google/go-containerregistry", "github.com/moby/buildkit"}},
	{pkg: "pkg/parser", allowed: []string{"internal/platforms"}, forbidden: []string{"github.com/google/go-containerregistry"}},
	{pkg: "pkg/oci", allowed: []string{"pkg/layer", "internal/fsutil", "internal/units", "internal/platforms"}, forbidden: []string{"github.com/google/go-containerregistry", "github.com/moby/buildkit"}},
	{pkg: "pkg/oci/remote", allowed: []string{"pkg/oci", "pkg/layer", "internal/fsutil", "internal/units", "internal/platforms"}},
	{pkg: "pkg/statedir", allowed: []string{"pkg/oci", "pkg/layer", "internal/fsutil", "internal/units", "internal/platforms"}, forbidden: []string{"github.com/google/go-containerregistry", "github.com/moby/buildkit"}},
	{pkg: "pkg/oci/images", allowed: []string{"pkg/oci", "pkg/oci/remote", "pkg/statedir", "internal/cache", "internal/cachemount", "pkg/layer", "internal/fsutil", "internal/units", "internal/platforms"}},
	{pkg: "internal/snapshot", allowed: []string{"pkg/layer", "internal/fsutil", "internal/units"}},
	{pkg: "pkg/executor/sandbox", allowed: []string{"internal/fsutil"}},
	{pkg: "internal/source", allowed: []string{"internal/fsutil"}},
	{pkg: "internal/gitsource", allowed: []string{"internal/fsutil"}, forbidden: []string{"github.com/google/go-containerregistry"}},
	{pkg: "internal/copier", allowed: []string{"internal/snapshot", "internal/source", "pkg/layer", "internal/fsutil", "internal/units"}, forbidden: []string{"github.com/google/go-containerregistry", "github.com/moby/buildkit"}},
	{pkg: "internal/imageuser", allowed: []string{"internal/source", "internal/fsutil"}, forbidden: []string{"github.com/google/go-containerregistry", "github.com/moby/buildkit"}},
	{pkg: "internal/cache", allowed: []string{"internal/fsutil"}},
	{pkg: "internal/cachemount", allowed: []string{"internal/fsutil"}},
	{pkg: "internal/sshforward"},
	{pkg: "internal/cgroup", allowed: []string{"internal/units"}},
	{pkg: "internal/units"},
	{pkg: "internal/platforms"},
	{pkg: "pkg/executor", allowed: []string{"pkg/layer", "pkg/oci", "pkg/parser", "pkg/statedir", "pkg/executor/", "internal/cache", "internal/cachemount", "internal/cgroup", "internal/copier", "internal/gitsource", "internal/imageuser", "internal/snapshot", "internal/source", "internal/sshforward", "internal/fsutil", "internal/units", "internal/platforms"}, forbidden: []string{"github.com/google/go-containerregistry"}},
}

func TestDependencies(t *testing.T) {
	for _, r := range rules {
		t.Run(r.pkg, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", module+r.pkg).Output()
			if err != nil {
				t.Fatalf("go list: %v", err)
			}
			for _, dep := range strings.Fields(string(out)) {
				for _, f := range r.forbidden {
					if strings.HasPrefix(dep, f) {
						t.Errorf("%s depends on %s", r.pkg, dep)
					}
				}
				own, ok := strings.CutPrefix(dep, module)
				if !ok || own == r.pkg {
					continue
				}
				if strings.HasPrefix(own, "cmd/") {
					t.Errorf("%s imports the CLI package %s", r.pkg, own)
					continue
				}
				allowed := false
				for _, a := range r.allowed {
					if own == a || (strings.HasSuffix(a, "/") && strings.HasPrefix(own, a)) {
						allowed = true
					}
				}
				if !allowed {
					t.Errorf("%s must not depend on %s", r.pkg, own)
				}
			}
		})
	}
}
