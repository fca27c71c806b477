package executor_test

import (
	"os"
	"testing"

	"github.com/ocibuilder/builder/pkg/executor/sandbox"
)

// TestMain lets the sandbox child that RUN steps re-execute from this test
// binary take over before any test runs.
func TestMain(m *testing.M) {
	sandbox.Init()
	os.Exit(m.Run())
}
