package imageuser

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ocibuilder/builder/internal/snapshot"
)

// FuzzParseChown resolves --chown values against hostile /etc/passwd and
// /etc/group files: it must not panic, and numeric ids never depend on
// the files.
func FuzzParseChown(f *testing.F) {
	f.Add("app:staff", "root:x:0:0::/:/bin/sh\napp:x:1000:1000::/:/bin/sh\n", "staff:x:50:app\n")
	f.Add("1234:5678", "", "")
	f.Add("app", "app:x:notanumber:1\napp:x:7:8\n", "")
	f.Add("x:y", "x:x:1\n", "y:x:\n")
	f.Add(":", "::::\n", ":::\n")
	f.Add("4294967296", "", "")
	f.Fuzz(func(t *testing.T, spec, passwd, group string) {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		for name, body := range map[string]string{"passwd": passwd, "group": group} {
			if err := os.WriteFile(filepath.Join(dir, "etc", name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		id, err := parseChown(spec, snapshot.NewStack(dir))
		u, g, hasGroup := strings.Cut(spec, ":")
		nu, uerr := strconv.ParseUint(u, 10, 32)
		if uerr != nil {
			return
		}
		if !hasGroup {
			if err != nil || id.UID != uint32(nu) || id.GID != uint32(nu) {
				t.Fatalf("parseChown(%q) = %+v, %v; want %d:%d", spec, id, err, nu, nu)
			}
			return
		}
		if ng, gerr := strconv.ParseUint(g, 10, 32); gerr == nil {
			if err != nil || id.UID != uint32(nu) || id.GID != uint32(ng) {
				t.Fatalf("parseChown(%q) = %+v, %v; want %d:%d", spec, id, err, nu, ng)
			}
		}
	})
}
