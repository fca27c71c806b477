package executor_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ocibuilder/builder/internal/testutil"
	"github.com/ocibuilder/builder/pkg/executor"
	"github.com/ocibuilder/builder/pkg/parser"
)

// The RUN --mount tests (types bind, cache and tmpfs) build real
// Dockerfiles against the busybox base with both snapshotters. A step
// reports what it saw by writing files of its own; what a mount holds
// must never reach a layer.

// eachSnapshotter runs fn as a parallel subtest per snapshotter.
func eachSnapshotter(t *testing.T, fn func(t *testing.T, snap executor.Snapshotter)) {
	t.Helper()
	for _, snap := range snapshotters() {
		t.Run(string(snap), func(t *testing.T) {
			t.Parallel()
			fn(t, snap)
		})
	}
}

// wantLayerNames fails unless the top layer of r holds exactly the
// entries named want, in order.
func wantLayerNames(t *testing.T, r *result, want ...string) {
	t.Helper()
	got := lastLayer(t, r)
	if !slices.Equal(names(got), want) {
		t.Errorf("top layer:\n%swant the entries %q", dumpEntries(got), want)
	}
}

// checkNotInLayers fails when any layer of r above the base has an entry
// below one of the image directories dirs, or a file holding text.
func checkNotInLayers(t *testing.T, r *result, text string, dirs ...string) {
	t.Helper()
	for i := 1; i < len(r.img.Layers); i++ {
		for _, e := range layerEntries(t, r, i) {
			for _, d := range dirs {
				if e.Name == d+"/" || strings.HasPrefix(e.Name, d+"/") {
					t.Errorf("layer %d holds %s, below the mount at /%s", i, e.Name, d)
				}
			}
			if text != "" && strings.Contains(e.Body, text) {
				t.Errorf("layer %d: %s holds the mount's content %q", i, e.Name, text)
			}
		}
	}
}

// TestRunMountTmpfs: a tmpfs is empty, bounded by size= and never in the
// layer, also where it hides an image directory.
func TestRunMountTmpfs(t *testing.T) {
	requireSandbox(t)
	base := busyboxBase(t, file("data/keep", "image\n"))
	df := `FROM base
RUN --mount=type=tmpfs,target=/t,size=64k \
    if dd if=/dev/zero of=/t/big bs=1k count=100 2>/err; then echo unbounded > /out; fi; rm /t/big; \
    echo small > /t/s && cat /t/s >> /out && ls -A /t >> /out
RUN --mount=type=tmpfs,target=/data ls -A /data > /seen && echo hidden > /data/new
`
	eachSnapshotter(t, func(t *testing.T, snap executor.Snapshotter) {
		r := mustRunBuild(t, spec{base: base, epoch: runEpoch(), dockerfile: df, noContext: true}, snap, nil)
		r.wantFile(t, "/out", "small\ns\n")
		if !strings.Contains(r.read(t, "/err"), "No space left on device") {
			t.Errorf("writing past size=64k: %q, want ENOSPC", r.read(t, "/err"))
		}
		if got := lastLayer(t, r); len(got) != 1 || got[0].Name != "seen" || got[0].Body != "" {
			t.Errorf("layer of the step with a tmpfs over /data:\n%swant only an empty /seen", dumpEntries(got))
		}
		r.wantFile(t, "/data/keep", "image\n")
		if r.exists("/data/new") {
			t.Error("a file written to the tmpfs over /data reached the image")
		}
		checkNotInLayers(t, r, "", "t", "data")
	})
}

// TestRunMountMountpoints: the mountpoints a step's mounts need and the
// image lacks, down to a missing parent, are not in the layer, and the
// image directories they were made in keep their times.
func TestRunMountMountpoints(t *testing.T) {
	requireSandbox(t)
	base := busyboxBase(t)
	df := `FROM base
RUN --mount=type=tmpfs,target=/newdir/sub \
    --mount=type=cache,target=/bin/newcache/x \
    --mount=type=bind,source=f,target=/etc/newbind \
    --mount=type=bind,target=/home/app/ctx \
    cat /etc/newbind /home/app/ctx/f > /out && ls -d /newdir/sub /bin/newcache/x >> /out
`
	eachSnapshotter(t, func(t *testing.T, snap executor.Snapshotter) {
		r := mustRunBuild(t, spec{base: base, epoch: runEpoch(), dockerfile: df, context: []testutil.Entry{file("f", "ctx\n")}}, snap, nil)
		r.wantFile(t, "/out", "ctx\nctx\n/bin/newcache/x\n/newdir/sub\n")
		wantLayerNames(t, r, "out")
		for _, p := range []string{"/newdir", "/bin/newcache", "/etc/newbind", "/home/app/ctx"} {
			if r.exists(p) {
				t.Errorf("mountpoint %s reached the image", p)
			}
		}
		for _, p := range []string{"/bin", "/etc", "/home/app"} {
			if mt := r.lstat(t, p).ModTime(); !mt.Equal(testutil.TreeTime()) {
				t.Errorf("%s has mtime %v, want the base's %v", p, mt, testutil.TreeTime())
			}
		}
	})
}

// TestRunMountNested: a mount below another's target is made inside it,
// whatever the order of the flags, and neither reaches the layer.
func TestRunMountNested(t *testing.T) {
	requireSandbox(t)
	base := busyboxBase(t)
	df := `FROM base
RUN --mount=type=bind,source=d,target=/n/x/y --mount=type=cache,target=/n/x --mount=type=tmpfs,target=/n \
    cat /n/x/y/f > /out && ls -A /n /n/x >> /out
`
	eachSnapshotter(t, func(t *testing.T, snap executor.Snapshotter) {
		r := mustRunBuild(t, spec{base: base, epoch: runEpoch(), dockerfile: df, context: []testutil.Entry{file("d/f", "F\n")}}, snap, nil)
		r.wantFile(t, "/out", "F\n/n:\nx\n\n/n/x:\ny\n")
		wantLayerNames(t, r, "out")
	})
}

// mountErr builds s, which must fail at Dockerfile line with an error
// holding text, whether the parser or the build finds it, and leave
// neither scratch data nor a mount behind.
func mountErr(t *testing.T, s spec, line int, text string) error {
	t.Helper()
	_, err := parser.Parse(strings.NewReader(s.dockerfile), parser.Options{Filename: "Dockerfile"})
	if err == nil {
		_, err = runBuild(t, s, "", nil)
	}
	if err == nil {
		t.Fatalf("building:\n%s\nsucceeded, want an error", s.dockerfile)
	}
	var pe *parser.Error
	if !errors.As(err, &pe) || pe.Loc.File != "Dockerfile" || pe.Loc.Line != line {
		t.Errorf("error %q (%T) does not name Dockerfile:%d", err, err, line)
	}
	if !strings.Contains(err.Error(), text) {
		t.Errorf("error %q does not say %q", err, text)
	}
	return err
}

// TestRunMountBadInput: a mount the build cannot make fails the build at
// its line, saying why, with nothing left behind.
func TestRunMountBadInput(t *testing.T) {
	requireSandbox(t)
	base := busyboxBase(t)
	named := newContext(t, file("sub/f", "n\n"))
	for _, tc := range []struct {
		name, run, text string
	}{
		{"cache without a target", "RUN --mount=type=cache true", "target"},
		{"bind without a target", "RUN --mount=type=bind true", "target"},
		{"tmpfs without a target", "RUN --mount=type=tmpfs true", "target"},
		{"target is the root", "RUN --mount=type=bind,target=/ true", "target"},
		{"relative target that is the root", "RUN --mount=type=tmpfs,target=.. true", "target"},
		{"unknown sharing", "RUN --mount=type=cache,target=/c,sharing=bogus true", "bogus"},
		{"negative tmpfs size", "RUN --mount=type=tmpfs,target=/t,size=-5 true", "size"},
		{"context source missing", "RUN --mount=type=bind,source=nosuch,target=/m true", "--mount"},
		{"stage source missing", "RUN --mount=type=bind,from=s,source=/nosuch,target=/m true", "--mount"},
		{"named context source missing", "RUN --mount=type=bind,from=extra,source=nosuch,target=/m true", "--mount"},
		{"cache seeded from a file", "RUN --mount=type=cache,target=/c,from=s,source=/etc/passwd true", "not a directory"},
		{"source matching several entries", "RUN --mount=type=bind,from=s,source=/bin/*,target=/m true", "no single entry"},
		{"unknown mount type", "RUN --mount=type=nfs,target=/m true", "nfs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := spec{base: base, root: t.TempDir(), named: map[string]string{"extra": named},
				dockerfile: "FROM base AS s\nFROM base\n" + tc.run + "\n"}
			err := mountErr(t, s, 3, tc.text)
			if strings.Contains(err.Error(), "COPY") {
				t.Errorf("error %q speaks of COPY on a RUN line", err)
			}
			checkNoCacheInstances(t, s.root)
		})
	}
}

// TestRunMountBindWithoutContext: a bind of the build context in a build
// that has none fails at its line.
func TestRunMountBindWithoutContext(t *testing.T) {
	requireSandbox(t)
	s := spec{base: busyboxBase(t), noContext: true, dockerfile: "FROM base\nRUN --mount=type=bind,target=/m true\n"}
	mountErr(t, s, 2, "has no context")
}

// checkNoCacheInstances fails when a failed build left a cache instance
// (or a half-made one) in the state directory root.
func checkNoCacheInstances(t *testing.T, root string) {
	t.Helper()
	caches, _ := os.ReadDir(filepath.Join(root, "cachemounts"))
	for _, c := range caches {
		ents, err := os.ReadDir(filepath.Join(root, "cachemounts", c.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if e.IsDir() {
				t.Errorf("failed build left cache directory %s/%s", c.Name(), e.Name())
			}
		}
	}
}

// TestRunMountStepFails: a step that fails with mounts of every kind
// leaves nothing mounted or in the scratch space, and hands its locked
// cache back, so the next build can lock it.
func TestRunMountStepFails(t *testing.T) {
	requireSandbox(t)
	base := busyboxBase(t)
	root := t.TempDir()
	run := "RUN --mount=type=cache,id=l,target=/c,sharing=locked --mount=type=bind,target=/m,rw " +
		"--mount=type=tmpfs,target=/t --mount=type=bind,from=s,source=/etc,target=/e " +
		"--mount=type=cache,target=/p,sharing=private "
	s := spec{base: base, root: root, ignore: []string{"x"}, context: []testutil.Entry{file("f", "f\n")},
		dockerfile: "FROM base AS s\nFROM base\n" + run + "touch /c/failed /t/x /m/x; exit 7\n"}
	_, err := runBuild(t, s, "", nil)
	var se *executor.StepError
	if !errors.As(err, &se) || se.ExitCode != 7 || se.Loc.Line != 3 {
		t.Fatalf("error %v (%T): want the step's exit code 7 at Dockerfile:3", err, err)
	}
	s.dockerfile = "FROM base AS s\nFROM base\n" + run + "ls /c > /out\n"
	r, expired, err := buildWithin(t, s, 60*time.Second, nil)
	if err != nil {
		t.Fatalf("build after the failure (deadline passed: %v): %v", expired, err)
	}
	r.wantFile(t, "/out", "failed\n")
}
