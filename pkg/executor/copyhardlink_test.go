package executor_test

import (
	"slices"
	"testing"

	"github.com/ocibuilder/builder/internal/testutil"
	"github.com/ocibuilder/builder/pkg/executor"
)

// TestCopyHardLinksInLayer copies the names of one inode from the
// context, from a stage's RUN and from an image's layer: each layer holds
// them as one inode (the later name a tar hard link to the first), and a
// later RUN sees two links.
func TestCopyHardLinksInLayer(t *testing.T) {
	requireSandbox(t)
	r := mustRunBuild(t, spec{
		dockerfile: `FROM base AS s
RUN mkdir /s && echo x > /s/a && ln /s/a /s/b
FROM base
COPY d /d/
COPY --from=s /s /t/
COPY --from=base /img /u/
RUN stat -c %h /d/h1 /d/h2 /t/a /t/b /u/a /u/b > /n
`,
		base:    busyboxBase(t, file("img/a", "I"), testutil.Entry{Path: "img/b", HardLink: "img/a"}),
		context: []testutil.Entry{file("d/h1", "H"), {Path: "d/h2", HardLink: "d/h1"}},
	}, executor.SnapshotterOverlay, nil)
	r.wantFile(t, "/n", "2\n2\n2\n2\n2\n2\n")
	n := len(r.img.Layers)
	for i, want := range [][]layerEntry{
		{tDir("d", 0o755), tReg("d/h1", 0o644, "H"), tHardlink("d/h2", 0o644, "d/h1")},
		{tDir("t", 0o755), tReg("t/a", 0o644, "x\n"), tHardlink("t/b", 0o644, "t/a")},
		{tDir("u", 0o755), tReg("u/a", 0o644, "I"), tHardlink("u/b", 0o644, "u/a")},
	} {
		got := layerEntries(t, r, n-4+i)
		if !slices.EqualFunc(got, want, sameEntry) {
			t.Errorf("layer of COPY %d:\n%swant\n%s", i+1, dumpEntries(got), dumpEntries(want))
		}
	}
}
