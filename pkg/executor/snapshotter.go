package executor

import (
	"fmt"
	"io"

	"github.com/ocibuilder/builder/internal/snapshot"
)

// Snapshotter names how RUN steps get a writable root filesystem.
type Snapshotter string

const (
	// SnapshotterAuto uses overlayfs where it can be mounted, else Copy.
	SnapshotterAuto Snapshotter = ""
	// SnapshotterOverlay mounts the stage's layers under a fresh upper
	// directory; the step's layer is the upper directory's difference.
	SnapshotterOverlay Snapshotter = "overlay"
	// SnapshotterCopy copies the stage's filesystem into a directory and
	// diffs it afterwards: slower, but needs no overlayfs. Both give the
	// same layer bytes.
	SnapshotterCopy Snapshotter = "copy"
)

// snapshotter decides, once per build, how RUN steps get their root
// filesystem. The first step to ask says on log when overlayfs was
// wanted but cannot be used.
func (b *builder) snapshotter(log io.Writer) (snapshot.Snapshotter, error) {
	b.snapOnce.Do(func() {
		cfg := snapshot.Config{Scratch: b.state.scratchDir, ChainDir: b.state.dir.ChainDir}
		switch b.opts.Snapshotter {
		case SnapshotterOverlay:
			b.snap = snapshot.NewOverlay(cfg)
		case SnapshotterCopy:
			b.snap = snapshot.NewCopy(cfg)
		case SnapshotterAuto:
			if err := snapshot.ProbeOverlay(b.state.tmp); err != nil {
				b.snap, b.snapWhy = snapshot.NewCopy(cfg), err
				return
			}
			b.snap = snapshot.NewOverlay(cfg)
		default:
			b.snapErr = fmt.Errorf("unknown snapshotter %q", b.opts.Snapshotter)
		}
	})
	if b.snapWhy != nil && b.snapWarned.CompareAndSwap(false, true) {
		fmt.Fprintf(log, "overlayfs is not usable here (%v); RUN steps copy the filesystem instead, which is slower\n", b.snapWhy)
	}
	return b.snap, b.snapErr
}
