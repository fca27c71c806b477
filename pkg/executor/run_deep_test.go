package executor_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ocibuilder/builder/pkg/executor"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
)

// TestRunDeepStack builds a stage with more layers than one overlay mount
// takes, so that the bottom layers are squashed, and checks the result
// against what the steps wrote, on both snapshotters.
func TestRunDeepStack(t *testing.T) {
	requireSandbox(t)
	const steps = 60
	base := busyboxBase(t)
	var df strings.Builder
	df.WriteString("FROM base\nRUN mkdir /deep\n")
	var log strings.Builder
	for i := 1; i <= steps; i++ {
		fmt.Fprintf(&df, "RUN echo %d > /deep/%d && echo %d >> /deep/log", i, i, i)
		if i == 55 {
			// Deletes an entry of a layer that ends up squashed.
			df.WriteString(" && rm /deep/3")
		}
		df.WriteString("\n")
		fmt.Fprintf(&log, "%d\n", i)
	}
	digests := make([]string, len(snapshotters()))
	// The group returns when its parallel subtests are done.
	t.Run("group", func(t *testing.T) {
		for i, snap := range snapshotters() {
			t.Run(string(snap), func(t *testing.T) {
				t.Parallel()
				r := mustRunBuild(t, spec{base: base, epoch: runEpoch(), dockerfile: df.String()}, snap, nil)
				if n := len(r.img.Layers); n != steps+2 {
					t.Fatalf("image has %d layers, want %d", n, steps+2)
				}
				r.wantFile(t, "/deep/log", log.String())
				var want []string
				for i := 1; i <= steps; i++ {
					if i != 3 {
						want = append(want, strconv.Itoa(i))
					}
					if i != 3 {
						r.wantFile(t, "/deep/"+strconv.Itoa(i), strconv.Itoa(i)+"\n")
					}
				}
				want = append(want, "log")
				slices.Sort(want)
				if got := r.files(t, "/deep"); !slices.Equal(got, want) {
					t.Errorf("/deep holds %q, want %q", got, want)
				}
				chains, _ := filepath.Glob(filepath.Join(r.root, "layers", "chain-*"))
				for _, c := range chains {
					if !isChainPrefix(strings.TrimPrefix(filepath.Base(c), "chain-"), r.img.Config.RootFS.DiffIDs) {
						t.Errorf("%s does not name a bottom part of the image's layers", c)
					}
				}
				switch {
				case snap == executor.SnapshotterCopy && len(chains) > 0:
					t.Errorf("the copy snapshotter squashed layers: %q", chains)
				case snap == executor.SnapshotterOverlay && len(chains) == 0:
					t.Errorf("no squashed lower directory in %s", filepath.Join(r.root, "layers"))
				case len(chains) > 2:
					// The stack passes the limit at 13 steps; squashing at
					// each of them would redo the same work every time.
					t.Errorf("%d squashed lower directories for one stage: want the bottom squashed once", len(chains))
				}
				digests[i] = manifestDigest(t, r)
			})
		}
	})
	if digests[0] != digests[1] {
		t.Errorf("manifest digests differ between snapshotters: overlay %s, copy %s", digests[0], digests[1])
	}
}

// isChainPrefix reports whether hex is the chain ID of some bottom part of
// diffIDs.
func isChainPrefix(hex string, diffIDs []digest.Digest) bool {
	for i := 1; i <= len(diffIDs); i++ {
		if identity.ChainID(diffIDs[:i]).Encoded() == hex {
			return true
		}
	}
	return false
}
