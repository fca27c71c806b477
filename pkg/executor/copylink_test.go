package executor_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/ocibuilder/builder/internal/testutil"
)

// linkDockerfile copies with --link over a RUN step, so that both the
// base and the step below change the filesystem the copy lands on.
const linkDockerfile = `FROM base
ARG V
RUN echo "$V" > /v
COPY --link src/ /opt/app/
` + uuidRun + `
`

// TestCopyLinkReusedBelowChanges rebuilds a --link step on another base
// and after an earlier step ran again: the step is a cache hit and the
// image holds the very same layer blob, while the steps after it run
// again. Without --link (or with --chmod, which BuildKit does not link)
// the copy runs again.
func TestCopyLinkReusedBelowChanges(t *testing.T) {
	requireSandbox(t)
	base := busyboxBase(t)
	otherBase := busyboxBase(t, file("etc/marker", "2\n"))
	baseChange := "base image changed: base@" + layoutDigest(t, base).String() + " → base@" + layoutDigest(t, otherBase).String()
	tests := []struct {
		name   string
		df     string
		change func(s *spec)
		want   map[string]string
	}{
		{"base changed", linkDockerfile, func(s *spec) { s.base = otherBase },
			map[string]string{"stage-0 2": baseChange, "stage-0 3": hit, "stage-0 4": "an earlier step was rebuilt"}},
		{"base changed under a first step", strings.Replace(linkDockerfile, "RUN echo \"$V\" > /v\n", "", 1), func(s *spec) { s.base = otherBase },
			map[string]string{"stage-0 2": hit, "stage-0 3": baseChange}},
		{"earlier step rebuilt", linkDockerfile, func(s *spec) { s.buildArgs = map[string]string{"V": "2"} },
			map[string]string{"stage-0 2": unchecked, "stage-0 3": hit, "stage-0 4": `build arg V changed: "1" → "2"; an earlier step was rebuilt`}},
		{"without --link", strings.Replace(linkDockerfile, "--link ", "", 1), func(s *spec) { s.base = otherBase },
			map[string]string{"stage-0 2": baseChange, "stage-0 3": "an earlier step was rebuilt", "stage-0 4": "an earlier step was rebuilt"}},
		{"--link with --chmod", strings.Replace(linkDockerfile, "--link ", "--link --chmod=0755 ", 1), func(s *spec) { s.base = otherBase },
			map[string]string{"stage-0 2": baseChange, "stage-0 3": "an earlier step was rebuilt", "stage-0 4": "an earlier step was rebuilt"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := spec{dockerfile: tc.df, base: base, root: t.TempDir(), contextDir: newContext(t, cacheContext()...),
				buildArgs: map[string]string{"V": "1"}}
			first, _ := cacheBuild(t, s, nil)
			tc.change(&s)
			second, log := cacheBuild(t, s, nil)
			log.check(t, tc.want)
			if first.read(t, "/uuid") == second.read(t, "/uuid") {
				t.Error("the step after the copy did not run again")
			}
			second.wantFile(t, "/opt/app/a.txt", "a\n")
			copyHit := false
			for key, text := range log.texts {
				if strings.HasPrefix(text, "COPY") {
					copyHit = log.outcome[key] == hit
				}
			}
			a, b := layerDigests(first), layerDigests(second)
			copyLayer := len(a) - 2
			if copyHit && a[copyLayer] != b[copyLayer] {
				t.Errorf("the cached copy's layer is %s, then %s, want the same blob", a[copyLayer], b[copyLayer])
			}
		})
	}
}

// TestCopyLinkLayer checks what a --link copy writes: only its sources and
// the directories leading to them, made from scratch (0755, owned by
// --chown or root) whatever the image holds there, without following the
// image's symlinks; a destination without a trailing slash is a file even
// where the image has a directory. Later steps see the copy merged onto
// the image.
func TestCopyLinkLayer(t *testing.T) {
	requireSandbox(t)
	s := spec{
		dockerfile: `FROM base
RUN mkdir -p /opt/keep /y /dir && chmod 0700 /opt && chown 5:5 /opt && echo k > /opt/keep/k && ln -s /y /x && echo d > /dir/d
WORKDIR /app
COPY --link f /opt/sub/
COPY --link --chown=7:8 f /own/deep/
COPY --link f /x/
COPY --link f /dir
COPY --link f rel/
ADD --link arch.tar /unpacked/
RUN cat /opt/sub/f /opt/keep/k > /seen && ls /y | wc -l > /ycount && test -d /x -a ! -L /x -a -f /dir && stat -c %a:%u:%g /opt > /opt.meta
`,
		base: busyboxBase(t),
		context: []testutil.Entry{file("f", "F\n"),
			file("arch.tar", string(makeTar(t, tarEntry{name: "in/a", body: "A"})))},
	}
	for _, snap := range snapshotters() {
		t.Run(string(snap), func(t *testing.T) {
			r := mustRunBuild(t, s, snap, nil)
			n := len(r.img.Layers)
			wantLayers := [][]layerEntry{
				{tDir("opt", 0o755), tDir("opt/sub", 0o755), tReg("opt/sub/f", 0o644, "F\n")},
				{tDir("own", 0o755).owned(7, 8), tDir("own/deep", 0o755).owned(7, 8), tReg("own/deep/f", 0o644, "F\n").owned(7, 8)},
				{tDir("x", 0o755), tReg("x/f", 0o644, "F\n")},
				{tReg("dir", 0o644, "F\n")},
				{tDir("app", 0o755), tDir("app/rel", 0o755), tReg("app/rel/f", 0o644, "F\n")},
			}
			for i, want := range wantLayers {
				got := layerEntries(t, r, n-7+i)
				if !slices.EqualFunc(got, want, sameEntry) {
					t.Errorf("layer of --link step %d:\n%swant\n%s", i+1, dumpEntries(got), dumpEntries(want))
				}
			}
			r.wantFile(t, "/unpacked/in/a", "A")
			r.wantFile(t, "/seen", "F\nk\n")
			r.wantFile(t, "/ycount", "0\n")
			r.wantFile(t, "/dir", "F\n")
			r.wantFile(t, "/opt.meta", "755:0:0\n")
			if fi := r.lstat(t, "/x"); !fi.IsDir() {
				t.Errorf("/x is %v, want the directory the linked copy made", fi.Mode().Type())
			}
			// The image takes the linked layer's directory over the one below.
			if m := r.mode(t, "/opt"); m != 0o755 {
				t.Errorf("/opt has mode %v, want 0755", m)
			}
			if uid, gid := r.owner(t, "/opt"); uid != 0 || gid != 0 {
				t.Errorf("/opt owned by %d:%d, want 0:0", uid, gid)
			}
		})
	}
}

// TestCopyLinkChownByName refuses names with --link, as BuildKit does:
// the linked copy does not see the image's /etc/passwd.
func TestCopyLinkChownByName(t *testing.T) {
	for _, chown := range []string{"nobody", "1:nogroup", "root"} {
		t.Run(chown, func(t *testing.T) {
			err, pe := buildErr(t, spec{
				dockerfile: "FROM base\nCOPY --link --chown=" + chown + " f /x/\n",
				base:       testutil.BaseLayout(t),
				context:    []testutil.Entry{file("f", "F")},
			})
			if pe.Loc.Line != 2 || !strings.Contains(err.Error(), "--link") || !strings.Contains(err.Error(), "numeric") {
				t.Errorf("error %v: want line 2, naming --link and numeric ids", err)
			}
		})
	}
}
