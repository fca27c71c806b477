package executor_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ocibuilder/builder/pkg/executor"
)

// TestRunMountCachePersists: what a step leaves in a cache, the next
// build's step (run again, its build argument changed) finds, and no
// layer ever holds it.
func TestRunMountCachePersists(t *testing.T) {
	requireSandbox(t)
	base := busyboxBase(t)
	df := `FROM base
ARG N
RUN --mount=type=cache,target=/var/cache/app echo cached-$N >> /var/cache/app/log && cp /var/cache/app/log /seen
`
	eachSnapshotter(t, func(t *testing.T, snap executor.Snapshotter) {
		root := t.TempDir()
		var r *result
		for _, n := range []string{"1", "2"} {
			s := spec{base: base, epoch: runEpoch(), root: root, dockerfile: df, noContext: true, buildArgs: map[string]string{"N": n}}
			r = mustRunBuild(t, s, snap, nil)
			wantLayerNames(t, r, "seen")
			checkNotInLayers(t, r, "", "var")
		}
		r.wantFile(t, "/seen", "cached-1\ncached-2\n")
		for _, h := range r.img.Config.History {
			if strings.Contains(h.CreatedBy, "cached-1") {
				t.Errorf("history entry %q holds the cache's content", h.CreatedBy)
			}
		}
	})
}

// TestRunMountCacheIDs: a cache's id is id= or else its target, so steps
// with one target share it, steps with another do not, and id= shares
// one between targets.
func TestRunMountCacheIDs(t *testing.T) {
	requireSandbox(t)
	base := busyboxBase(t)
	df := `FROM base
RUN --mount=type=cache,target=/c echo one > /c/f
RUN --mount=type=cache,target=/c/ cat /c/f > /same-target
RUN --mount=type=cache,target=/d ls -A /d > /other-target
RUN --mount=type=cache,id=shared,target=/x echo by-id > /x/g
RUN --mount=type=cache,id=shared,target=/y cat /y/g > /same-id
RUN --mount=type=cache,target=/x ls -A /x > /target-not-id
`
	eachSnapshotter(t, func(t *testing.T, snap executor.Snapshotter) {
		r := mustRunBuild(t, spec{base: base, epoch: runEpoch(), dockerfile: df, noContext: true}, snap, nil)
		r.wantFile(t, "/same-target", "one\n")
		r.wantFile(t, "/other-target", "")
		r.wantFile(t, "/same-id", "by-id\n")
		r.wantFile(t, "/target-not-id", "")
		checkNotInLayers(t, r, "", "c", "d", "x", "y")
	})
}

// TestRunMountCacheRelativeTarget: a relative target is mounted under the
// working directory, and, as BuildKit has it, the default id is the
// target as written, so two working directories share the cache "c".
func TestRunMountCacheRelativeTarget(t *testing.T) {
	requireSandbox(t)
	base := busyboxBase(t)
	df := `FROM base
WORKDIR /a
RUN --mount=type=cache,target=c echo from-a > /a/c/f
WORKDIR /b
RUN --mount=type=cache,target=c cat /b/c/f > /seen
`
	r := mustRunBuild(t, spec{base: base, epoch: runEpoch(), dockerfile: df, noContext: true}, "", nil)
	r.wantFile(t, "/seen", "from-a\n")
}

// TestRunMountCacheRoot: uid=, gid= and mode= shape a new cache's root,
// which is 0755 root:root by default; ro makes the cache read-only.
func TestRunMountCacheRoot(t *testing.T) {
	requireSandbox(t)
	base := busyboxBase(t)
	df := `FROM base
RUN --mount=type=cache,target=/c,uid=1000,gid=10,mode=0750 stat -c '%u %g %a' /c > /owned
RUN --mount=type=cache,target=/d stat -c '%u %g %a' /d > /default && echo kept > /d/f
RUN --mount=type=cache,target=/d,ro if { echo x > /d/new; } 2>/err; then echo writable > /ro; fi; cat /d/f >> /ro
USER 1000
RUN --mount=type=cache,target=/c,uid=1000,gid=10,mode=0750 touch /c/mine && stat -c '%u' /c/mine > /tmp/user
`
	eachSnapshotter(t, func(t *testing.T, snap executor.Snapshotter) {
		r := mustRunBuild(t, spec{base: base, epoch: runEpoch(), dockerfile: df, noContext: true}, snap, nil)
		r.wantFile(t, "/owned", "1000 10 750\n")
		r.wantFile(t, "/default", "0 0 755\n")
		r.wantFile(t, "/ro", "kept\n")
		if err := r.read(t, "/err"); !strings.Contains(err, "Read-only file system") {
			t.Errorf("write to a ro cache: %q, want EROFS", err)
		}
		r.wantFile(t, "/tmp/user", "1000\n")
	})
}

// TestRunMountCacheFrom: from= and source= seed a new cache with a
// stage's directory; the seeded cache is kept like any other, and is
// another cache than the same id seeded from elsewhere.
func TestRunMountCacheFrom(t *testing.T) {
	requireSandbox(t)
	base := busyboxBase(t)
	df := `FROM base AS seed
RUN mkdir -p /seed/sub && echo seeded > /seed/sub/f
FROM base
RUN --mount=type=cache,id=c,target=/c,from=seed,source=/seed cat /c/sub/f > /first && echo more > /c/g
RUN --mount=type=cache,id=c,target=/c,from=seed,source=/seed ls -A /c > /second
RUN --mount=type=cache,id=c,target=/c ls -A /c > /unseeded
`
	eachSnapshotter(t, func(t *testing.T, snap executor.Snapshotter) {
		r := mustRunBuild(t, spec{base: base, epoch: runEpoch(), dockerfile: df, noContext: true}, snap, nil)
		r.wantFile(t, "/first", "seeded\n")
		r.wantFile(t, "/second", "g\nsub\n")
		r.wantFile(t, "/unseeded", "")
		checkNotInLayers(t, r, "", "c", "seed")
	})
}

// TestRunMountCacheLocked: steps of two stages running at once that lock
// one cache never hold it together: each claims the cache with mkdir,
// which fails when the other's claim is there, and keeps it a while.
func TestRunMountCacheLocked(t *testing.T) {
	requireSandbox(t)
	base := busyboxBase(t)
	step := func(name string) string {
		return fmt.Sprintf("RUN --mount=type=cache,id=l,target=/c,sharing=locked "+
			"mkdir /c/claim && for i in $(seq 20); do echo %[1]s >> /c/claim/by; sleep 0.05; done && "+
			"cp /c/claim/by /%[1]s && rm -r /c/claim\n", name)
	}
	df := "FROM base AS a\n" + step("a") + "FROM base AS b\n" + step("b") +
		"FROM scratch\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n"
	r, expired, err := buildWithin(t, spec{base: base, dockerfile: df, noContext: true}, 120*time.Second, func(o *executor.Options) { o.Jobs = 2 })
	if err != nil {
		t.Fatalf("build (deadline passed: %v): %v", expired, err)
	}
	r.wantFile(t, "/a", strings.Repeat("a\n", 20))
	r.wantFile(t, "/b", strings.Repeat("b\n", 20))
}

// sharingRendezvous is a Dockerfile whose stages a and b use the cache "r"
// with the given sharing at the same time: a marks the cache and then
// waits for b's message, b sends it and lists the cache it sees, while a
// still holds its own.
func sharingRendezvous(port int, sharing, msg string) string {
	return fmt.Sprintf(`FROM base AS a
RUN --mount=type=cache,id=r,target=/c,sharing=%[2]s touch /c/from-a && nc -l -p %[1]d > /got
FROM base AS b
RUN --mount=type=cache,id=r,target=/c,sharing=%[2]s echo %[3]s > /msg; for i in $(seq 500); do if nc 127.0.0.1 %[1]d < /msg; then ls -A /c > /seen; exit 0; fi; sleep 0.1; done; exit 1
FROM scratch
COPY --from=a /got /got
COPY --from=b /seen /seen
`, port, sharing, msg)
}

// TestRunMountCacheSharing: two steps using one cache at once see one
// directory when it is shared and two when it is private.
func TestRunMountCacheSharing(t *testing.T) {
	requireSandbox(t)
	base := busyboxBase(t)
	for sharing, seen := range map[string]string{"shared": "from-a\n", "private": ""} {
		t.Run(sharing, func(t *testing.T) {
			msg := uniqueText(t, "hello")
			s := spec{base: base, dockerfile: sharingRendezvous(freePort(t), sharing, msg), noContext: true}
			r, expired, err := buildWithin(t, s, 120*time.Second, func(o *executor.Options) { o.Jobs = 2 })
			if err != nil {
				t.Fatalf("stages a and b did not meet (deadline passed: %v): %v", expired, err)
			}
			r.wantFile(t, "/got", msg+"\n")
			r.wantFile(t, "/seen", seen)
		})
	}
}
