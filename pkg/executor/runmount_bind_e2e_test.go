package executor_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocibuilder/builder/internal/testutil"
	"github.com/ocibuilder/builder/pkg/executor"
)

// bindContext is the build context of the bind tests.
func bindContext() []testutil.Entry {
	return []testutil.Entry{
		file("a.txt", "A\n"),
		file("d/f", "F\n"),
		file("d/sub/g", "G\n"),
		file("secret.txt", "ignored\n"),
		file("logs/x.log", "ignored\n"),
	}
}

// TestRunMountBindContext: a bind without from= shows the build context
// (all of it, a directory or a file of it) read-only, at a target under
// the working directory when relative; nothing of it reaches the layer.
func TestRunMountBindContext(t *testing.T) {
	requireSandbox(t)
	base := busyboxBase(t)
	df := `FROM base
WORKDIR /w
RUN --mount=type=bind,target=m cat m/a.txt m/d/f /w/m/d/sub/g > /out && \
    if { touch m/new; } 2>/err; then echo writable >> /out; fi
RUN --mount=type=bind,source=d,target=/md --mount=type=bind,source=a.txt,target=/ma \
    ls -A /md > /dir && cat /ma > /file && \
    if { echo x > /ma; } 2>/err2; then echo writable >> /file; fi
`
	eachSnapshotter(t, func(t *testing.T, snap executor.Snapshotter) {
		ctx := newContext(t, bindContext()...)
		r := mustRunBuild(t, spec{base: base, epoch: runEpoch(), dockerfile: df, contextDir: ctx}, snap, nil)
		r.wantFile(t, "/out", "A\nF\nG\n")
		r.wantFile(t, "/dir", "f\nsub\n")
		r.wantFile(t, "/file", "A\n")
		for _, p := range []string{"/err", "/err2"} {
			if got := r.read(t, p); !strings.Contains(got, "Read-only file system") {
				t.Errorf("%s: %q, want EROFS", p, got)
			}
		}
		wantLayerNames(t, r, "dir", "err2", "file")
		checkNotInLayers(t, r, "", "w/m", "md", "ma")
		if _, err := os.Lstat(filepath.Join(ctx, "new")); err == nil {
			t.Error("the step created a file in the host's context")
		}
	})
}

// TestRunMountBindReadWrite: with rw a step may write to the bind, but
// what it writes reaches neither the host's context nor the layer.
func TestRunMountBindReadWrite(t *testing.T) {
	requireSandbox(t)
	base := busyboxBase(t)
	df := `FROM base
RUN --mount=type=bind,target=/m,rw echo changed > /m/a.txt && touch /m/new && rm /m/d/f && cat /m/a.txt > /out
RUN --mount=type=bind,target=/m,readwrite ls -A /m /m/d > /again
`
	for name, ignore := range map[string][]string{"no .dockerignore": nil, ".dockerignore": {"secret.txt"}} {
		t.Run(name, func(t *testing.T) {
			eachSnapshotter(t, func(t *testing.T, snap executor.Snapshotter) {
				ctx := newContext(t, bindContext()...)
				r := mustRunBuild(t, spec{base: base, epoch: runEpoch(), dockerfile: df, contextDir: ctx, ignore: ignore}, snap, nil)
				r.wantFile(t, "/out", "changed\n")
				if !strings.Contains(r.read(t, "/again"), "f\nsub\n") || strings.Contains(r.read(t, "/again"), "new") {
					t.Errorf("a later bind sees the earlier step's writes:\n%s", r.read(t, "/again"))
				}
				wantLayerNames(t, r, "again")
				checkNotInLayers(t, r, "", "m")
				if b, err := os.ReadFile(filepath.Join(ctx, "a.txt")); err != nil || string(b) != "A\n" {
					t.Errorf("host context a.txt: %q, %v; want it unchanged", b, err)
				}
				for _, p := range []string{"new", "d/f"} {
					if _, err := os.Lstat(filepath.Join(ctx, p)); (err == nil) != (p == "d/f") {
						t.Errorf("host context %s: %v", p, err)
					}
				}
			})
		})
	}
}

// TestRunMountBindIgnored: what .dockerignore excludes is not in a bind of
// the context, read-only or not.
func TestRunMountBindIgnored(t *testing.T) {
	requireSandbox(t)
	base := busyboxBase(t)
	df := `FROM base
RUN --mount=type=bind,target=/m find /m | sort > /ro
RUN --mount=type=bind,target=/m,rw find /m | sort > /rw
RUN --mount=type=bind,source=d,target=/m find /m | sort > /sub
`
	eachSnapshotter(t, func(t *testing.T, snap executor.Snapshotter) {
		r := mustRunBuild(t, spec{base: base, epoch: runEpoch(), dockerfile: df, context: bindContext(),
			ignore: []string{"secret.txt", "logs", "d/sub"}}, snap, nil)
		want := "/m\n/m/a.txt\n/m/d\n/m/d/f\n"
		r.wantFile(t, "/ro", want)
		r.wantFile(t, "/rw", want)
		r.wantFile(t, "/sub", "/m\n/m/f\n")
	})
}

// TestRunMountBindFrom: from= binds a stage's directory, a named
// context's directory or a directory of an image in an OCI layout named
// context.
func TestRunMountBindFrom(t *testing.T) {
	requireSandbox(t)
	base := busyboxBase(t)
	named := newContext(t, file("sub/n", "named\n"), file("other", "o\n"))
	img := testutil.ImageLayout(t, file("imgdata/i", "image\n"), file("elsewhere", "e\n"))
	df := `FROM base AS s
RUN mkdir -p /data/sub && echo stage > /data/sub/f && echo top > /data/top
FROM base
RUN --mount=type=bind,from=s,source=/data/sub,target=/m ls -A /m > /stage && cat /m/f >> /stage
RUN --mount=type=bind,from=s,source=data/sub,target=/m,rw echo x > /m/f && rm /m/f && ls -A /m > /stage-rw
RUN --mount=type=bind,from=s,source=/data/sub/f,target=/file cat /file > /stage-file
RUN --mount=type=bind,from=s,source=/data,target=/m ls -A /m /m/sub > /stage-after
RUN --mount=type=bind,from=extra,source=sub,target=/m ls -A /m > /named && cat /m/n >> /named
RUN --mount=type=bind,from=img,source=/imgdata,target=/m ls -A /m > /image && cat /m/i >> /image
RUN --mount=type=bind,from=img,target=/m ls -A /m > /image-root
`
	eachSnapshotter(t, func(t *testing.T, snap executor.Snapshotter) {
		r := mustRunBuild(t, spec{base: base, epoch: runEpoch(), dockerfile: df, noContext: true,
			named: map[string]string{"extra": named, "img": testutil.Layout(img)}}, snap, nil)
		r.wantFile(t, "/stage", "f\nstage\n")
		r.wantFile(t, "/stage-rw", "")
		r.wantFile(t, "/stage-file", "stage\n")
		r.wantFile(t, "/stage-after", "/m:\nsub\ntop\n\n/m/sub:\nf\n")
		r.wantFile(t, "/named", "n\nnamed\n")
		r.wantFile(t, "/image", "i\nimage\n")
		r.wantFile(t, "/image-root", "elsewhere\nimgdata\n")
		checkNotInLayers(t, r, "", "m", "file", "data")
		if r.exists("/data") {
			t.Error("the stage's files reached the image")
		}
	})
}

// TestRunMountBindStaysInside: no bind shows a host file outside its
// source: not through a context symlink leading out, a source climbing
// with "..", nor a stage's symlink to an absolute host path.
func TestRunMountBindStaysInside(t *testing.T) {
	requireSandbox(t)
	base := busyboxBase(t)
	outside := t.TempDir()
	const secret = "host-only-secret"
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte(secret+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	parent := t.TempDir()
	ctx := filepath.Join(parent, "ctx")
	testutil.WriteTree(t, ctx, file("a.txt", "A\n"), testutil.Symlink("evil", outside), testutil.Symlink("up", "../.."+outside))
	for _, tc := range []struct{ name, run string }{
		{"context symlink followed in the step", "RUN --mount=type=bind,target=/m cat /m/evil/secret /m/up/secret > /out 2>&1; true"},
		{"context symlink followed in the step, rw", "RUN --mount=type=bind,target=/m,rw cat /m/evil/secret /m/up/secret > /out 2>&1; true"},
		{"source through a symlink", "RUN --mount=type=bind,source=evil,target=/m cat /m/secret > /out 2>&1; true"},
		{"source through a relative symlink", "RUN --mount=type=bind,source=up/secret,target=/m cat /m > /out 2>&1; true"},
		{"source climbing out", "RUN --mount=type=bind,source=../../../../..,target=/m find /m > /out 2>&1; cat /m" + outside + "/secret >> /out 2>&1; true"},
		{"source climbing to the file", "RUN --mount=type=bind,source=../../../../.." + outside + "/secret,target=/m cat /m > /out 2>&1; true"},
		{"stage symlink to a host path", "RUN --mount=type=bind,from=s,source=/link,target=/m cat /m/secret > /out 2>&1; true"},
		{"stage symlink inside the source", "RUN --mount=type=bind,from=s,source=/,target=/m cat /m/link/secret > /out 2>&1; true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eachSnapshotter(t, func(t *testing.T, snap executor.Snapshotter) {
				df := "FROM base AS s\nRUN ln -s " + outside + " /link\nFROM base\n" + tc.run + "\n"
				l := newCacheLog()
				r, err := runBuild(t, spec{base: base, epoch: runEpoch(), dockerfile: df, contextDir: ctx}, snap,
					func(o *executor.Options) { o.Progress = l.progress() })
				if err != nil {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("%s: the error shows the host file: %v", tc.name, err)
					}
				} else if r.exists("/out") && strings.Contains(r.read(t, "/out"), secret) {
					t.Errorf("%s: the step read the host file outside the context:\n%s", tc.name, r.read(t, "/out"))
				}
				if strings.Contains(l.output(), secret) {
					t.Errorf("%s: the step's output shows the host file", tc.name)
				}
			})
		})
	}
	if b, err := os.ReadFile(filepath.Join(outside, "secret")); err != nil || string(b) != secret+"\n" {
		t.Errorf("host file: %q, %v", b, err)
	}
}

// TestRunMountBindClimbShowsContext: a source climbing above the context
// stops at its root, as a COPY source does: the bind shows the context.
func TestRunMountBindClimbShowsContext(t *testing.T) {
	requireSandbox(t)
	base := busyboxBase(t)
	df := "FROM base\nRUN --mount=type=bind,source=../../..,target=/m ls -A /m > /out\n"
	r := mustRunBuild(t, spec{base: base, epoch: runEpoch(), dockerfile: df, context: []testutil.Entry{file("a.txt", "A\n")}}, "", nil)
	r.wantFile(t, "/out", "a.txt\n")
}

// TestRunMountBindKey: a bind's content is part of the step's key: the
// step runs again when a bound file changes, and is taken from the cache
// when only a file it does not bind changes.
func TestRunMountBindKey(t *testing.T) {
	requireSandbox(t)
	base := busyboxBase(t)
	ctx := newContext(t, file("bound.txt", "1\n"), file("dir/f", "d1\n"), file("other.txt", "o1\n"))
	named := newContext(t, file("n.txt", "n1\n"), file("unused", "u1\n"))
	// One stage per step, so that a step running again does not change
	// the next one's parent.
	s := spec{base: base, root: t.TempDir(), contextDir: ctx, named: map[string]string{"extra": named},
		buildArgs: map[string]string{"V": "1"}, dockerfile: `FROM base AS src
ARG V
RUN echo $V > /v
FROM base AS one
RUN --mount=type=bind,source=bound.txt,target=/b cat /b > /file
FROM base AS two
RUN --mount=type=bind,source=dir,target=/d cat /d/f > /dir
FROM base AS three
RUN --mount=type=bind,target=/all cat /all/other.txt > /all-ctx
FROM base AS four
RUN --mount=type=bind,from=src,source=/v,target=/v cat /v > /stage
FROM base AS five
RUN --mount=type=bind,from=extra,source=n.txt,target=/n cat /n > /named
FROM scratch
COPY --from=one /file /file
COPY --from=two /dir /dir
COPY --from=three /all-ctx /all-ctx
COPY --from=four /stage /stage
COPY --from=five /named /named
`}
	r, l := cacheBuild(t, s, nil)
	l.all(t, "no earlier build of this step")
	steps := []string{"one 1", "two 1", "three 1", "four 1", "five 1"}
	for _, tc := range []struct {
		name string
		// change changes the context, a named context or a build arg.
		change func()
		// ran is which of the steps must run again; the others are
		// taken from the cache.
		ran []bool
	}{
		{"unchanged", func() {}, []bool{false, false, false, false, false}},
		{"unbound file", func() { writeFile(t, ctx, "other.txt", "o2\n") }, []bool{false, false, true, false, false}},
		{"bound file", func() { writeFile(t, ctx, "bound.txt", "2\n") }, []bool{true, false, true, false, false}},
		{"file in a bound directory", func() { writeFile(t, ctx, "dir/f", "d2\n") }, []bool{false, true, true, false, false}},
		{"new file in a bound directory", func() { writeFile(t, ctx, "dir/new", "n\n") }, []bool{false, true, true, false, false}},
		{"bound stage", func() { s.buildArgs["V"] = "2" }, []bool{false, false, false, true, false}},
		{"unbound named context file", func() { writeFile(t, named, "unused", "u2\n") }, []bool{false, false, false, false, false}},
		{"bound named context file", func() { writeFile(t, named, "n.txt", "n2\n") }, []bool{false, false, false, false, true}},
	} {
		tc.change()
		r, l = cacheBuild(t, s, nil)
		for i, step := range steps {
			got := l.outcome[step]
			if (got != hit) != tc.ran[i] {
				t.Errorf("%s: step %s: %s; want it run again: %v", tc.name, step, orNone(got), tc.ran[i])
			}
		}
	}
	r.wantFile(t, "/file", "2\n")
	r.wantFile(t, "/dir", "d2\n")
	r.wantFile(t, "/all-ctx", "o2\n")
	r.wantFile(t, "/stage", "2\n")
	r.wantFile(t, "/named", "n2\n")
}
