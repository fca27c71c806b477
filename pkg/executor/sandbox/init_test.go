package sandbox

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestInitialized checks the record Init leaves: TestMain called Init, a
// value inherited from another process does not count, and without Init
// Run starts nothing.
func TestInitialized(t *testing.T) {
	if err := Initialized(); err != nil {
		t.Fatalf("after Init in TestMain: %v", err)
	}
	for _, v := range []string{"", "1", "1@pid:[1]", initToken() + "x"} {
		t.Run(v, func(t *testing.T) {
			t.Setenv(initEnv, v)
			err := Initialized()
			if !errors.Is(err, ErrNoInit) {
				t.Fatalf("Initialized with %s=%q: got %v, want ErrNoInit", initEnv, v, err)
			}
			if !strings.HasPrefix(err.Error(), "call sandbox.Init() first in main: ") {
				t.Errorf("error %q does not start with the fix", err)
			}
			// Run checks before it looks at the spec, so an
			// empty one shows that nothing was started.
			if _, err := Run(context.Background(), Spec{}, nil, nil, nil); !errors.Is(err, ErrNoInit) {
				t.Errorf("Run without Init: got %v, want ErrNoInit", err)
			}
		})
	}
	t.Run("again", func(t *testing.T) {
		t.Setenv(initEnv, "stale")
		Init()
		if err := Initialized(); err != nil {
			t.Errorf("after a second Init: %v", err)
		}
	})
}
