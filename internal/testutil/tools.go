// Package testutil holds helpers shared by the builder's tests.
package testutil

import (
	"os/exec"
	"testing"
)

// RequireTool returns the absolute path of the external program name and
// fails the test when it is not installed: the tests that use it check real
// consumers of the builder's output, so a missing tool must not turn into a
// silent pass.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is required by this test but was not found in PATH: install %s (make test-deps)", name, name)
	}
	return p
}
