package executor_test

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ocibuilder/builder/internal/testutil"
	"github.com/ocibuilder/builder/pkg/executor"
)

// multiStage has two stages that cannot be built and two that can.
const multiStage = `FROM scratch AS broken
COPY missing /x
FROM scratch AS good
COPY a.txt /a
ENV GOOD=1
FROM good AS final
RUN false
FROM good AS child
COPY b.txt /b
FROM broken AS last
`

func TestTarget(t *testing.T) {
	ctxEntries := []testutil.Entry{file("a.txt", "A"), file("b.txt", "B")}
	t.Run("only the stages the target needs are built", func(t *testing.T) {
		for _, target := range []string{"good", "child"} {
			r := build(t, spec{dockerfile: multiStage, target: target, context: ctxEntries})
			r.wantFile(t, "/a", "A")
			if got := r.exists("/b"); got != (target == "child") {
				t.Errorf("target %s: /b exists = %v", target, got)
			}
			if !slices.Contains(r.img.Config.Config.Env, "GOOD=1") {
				t.Errorf("target %s: Env %q lacks GOOD=1", target, r.img.Config.Config.Env)
			}
		}
	})
	t.Run("a failing target", func(t *testing.T) {
		err, pe := buildErr(t, spec{dockerfile: multiStage, target: "final", context: ctxEntries})
		if !strings.Contains(err.Error(), "/bin/sh") {
			t.Errorf("error %v does not name the missing shell", err)
		}
		if pe.Loc.Line != 7 {
			t.Errorf("error %v is at line %d, want 7", err, pe.Loc.Line)
		}
	})
	t.Run("the last stage by default", func(t *testing.T) {
		err, pe := buildErr(t, spec{dockerfile: multiStage, context: ctxEntries})
		if pe.Loc.Line != 2 {
			t.Errorf("error %v is at line %d, want 2 (the broken stage last depends on)", err, pe.Loc.Line)
		}
	})
}

func TestFromEarlierStage(t *testing.T) {
	base := testutil.BaseLayout(t)
	r := build(t, spec{
		dockerfile: `FROM base AS one
ENV ONE=1
COPY a.txt /a
FROM one AS two
COPY b.txt /b
FROM one AS three
COPY --from=two /b /from-two
LABEL three=3
`,
		base:    base,
		context: []testutil.Entry{file("a.txt", "A"), file("b.txt", "B")},
	})
	r.wantFile(t, "/a", "A")
	r.wantFile(t, "/from-two", "B")
	if r.exists("/b") {
		t.Error("stage three holds /b, which only its sibling two added")
	}
	if !r.exists("/etc/passwd") {
		t.Error("stage three lost the base image's files")
	}
	if !slices.Contains(r.img.Config.Config.Env, "ONE=1") {
		t.Errorf("Env %q lacks ONE=1 of the parent stage", r.img.Config.Config.Env)
	}
	if n := len(r.img.Layers); n != 3 {
		t.Errorf("image has %d layers, want 3 (base, one, three)", n)
	}
	var by []string
	for _, h := range r.img.Config.History {
		by = append(by, h.CreatedBy)
	}
	want := []string{"test base", "ENV ONE=1", "COPY a.txt /a", "COPY --from=two /b /from-two", "LABEL three=3"}
	if !slices.Equal(by, want) {
		t.Errorf("history %q, want %q", by, want)
	}
}

// TestArgsPassToChildStages: a RUN in a stage built FROM another sees the
// ARGs declared there, with their defaults or build-arg values, as with
// BuildKit (moby/buildkit#5381).
func TestArgsPassToChildStages(t *testing.T) {
	requireSandbox(t)
	base := busyboxBase(t)
	const df = `FROM base AS a
ARG NAME=base
FROM a AS child
RUN echo "name=$NAME" > /out
FROM a AS redeclared
ARG NAME
RUN echo "name=$NAME" > /out
`
	for _, tc := range []struct {
		target string
		args   map[string]string
		want   string
	}{
		{"child", nil, "name=base\n"},
		{"child", map[string]string{"NAME": "over"}, "name=over\n"},
		{"redeclared", nil, "name=base\n"},
		{"redeclared", map[string]string{"NAME": "over"}, "name=over\n"},
	} {
		r := mustRunBuild(t, spec{dockerfile: df, base: base, target: tc.target, buildArgs: tc.args, noContext: true}, executor.SnapshotterOverlay, nil)
		if got := r.read(t, "/out"); got != tc.want {
			t.Errorf("target %q, build args %v: /out = %q, want %q", tc.target, tc.args, got, tc.want)
		}
	}
}

// TestDuplicateStageNames: with a stage name used twice the build goes on,
// as docker's does: FROM takes the last stage of that name above it, COPY
// --from the last one in the file.
func TestDuplicateStageNames(t *testing.T) {
	r := build(t, spec{
		dockerfile: `FROM scratch AS x
COPY a.txt /v
FROM x AS early
FROM scratch AS x
COPY b.txt /v
FROM x AS late
COPY --from=early /v /early
COPY --from=x /v /copied
`,
		context: []testutil.Entry{file("a.txt", "A"), file("b.txt", "B")},
	})
	r.wantFile(t, "/early", "A")
	r.wantFile(t, "/v", "B")
	r.wantFile(t, "/copied", "B")
}

// TestDuplicateStageNamesKeepTheirHistories: the steps of two stages with
// one name are told apart across builds, so a cache miss of one is never
// explained by the other's history.
func TestDuplicateStageNamesKeepTheirHistories(t *testing.T) {
	s := spec{
		dockerfile: `FROM scratch AS x
COPY a.txt /v
FROM x AS early
FROM scratch AS x
COPY b.txt /v
`,
		root:       t.TempDir(),
		contextDir: newContext(t, file("a.txt", "A"), file("b.txt", "B")),
	}
	// The last stage, the second x, first; then the first x.
	build(t, s)
	s.target = "early"
	o := s.options(t)
	var mu sync.Mutex
	reasons := map[string]string{}
	o.Progress = executor.FuncProgress(func(e executor.Event) {
		if e.Kind == executor.StepCacheMiss {
			mu.Lock()
			reasons[e.Name] = e.Reason
			mu.Unlock()
		}
	})
	if _, err := tryBuild(t, s, o); err != nil {
		t.Fatal(err)
	}
	if got, want := reasons["[x 1/1] COPY a.txt /v"], "no earlier build of this step"; got != want {
		t.Errorf("the first x's COPY missed because %q, want %q (all reasons: %q)", got, want, reasons)
	}
}
