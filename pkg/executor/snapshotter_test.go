package executor_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocibuilder/builder/pkg/executor"
	"github.com/ocibuilder/builder/pkg/executor/sandbox"
)

// TestSnapshotterChoice checks which snapshotter runs a step, by where
// the step's layer directory comes from: the overlay snapshotter keeps
// the step's upper directory as the layer's directory at once, the copy
// snapshotter leaves it to be extracted from the blob when a later step
// needs it. On a machine with overlayfs the default picks overlay. All
// three give the same image.
func TestSnapshotterChoice(t *testing.T) {
	requireSandbox(t)
	if err := sandbox.OverlayAvailable(); err != nil {
		t.Fatalf("running as root without overlayfs: %v", err)
	}
	base := busyboxBase(t)
	s := spec{base: base, epoch: runEpoch(), dockerfile: "FROM base\nRUN echo x > /f\n"}
	tests := []struct {
		snap     executor.Snapshotter
		upperDir bool
	}{
		{executor.SnapshotterAuto, true},
		{executor.SnapshotterOverlay, true},
		{executor.SnapshotterCopy, false},
	}
	var first string
	for _, tt := range tests {
		r := mustRunBuild(t, s, tt.snap, nil)
		ids := r.img.Config.RootFS.DiffIDs
		dir := filepath.Join(r.root, "layers", ids[len(ids)-1].Encoded())
		_, err := os.Stat(filepath.Join(dir, "f"))
		if got := err == nil; got != tt.upperDir {
			t.Errorf("snapshotter %q: step's layer directory present: %v, want %v (%v)", tt.snap, got, tt.upperDir, err)
		}
		d := manifestDigest(t, r)
		if first == "" {
			first = d
		} else if d != first {
			t.Errorf("snapshotter %q gives manifest %s, the default %s", tt.snap, d, first)
		}
	}

	t.Run("unknown", func(t *testing.T) {
		_, err := runBuild(t, s, "zfs", nil)
		if err == nil || !strings.Contains(err.Error(), "zfs") {
			t.Errorf("unknown snapshotter: error %v, want one naming it", err)
		}
	})
}
