package executor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ocibuilder/builder/internal/testutil"
	"github.com/ocibuilder/builder/pkg/executor"
	"github.com/ocibuilder/builder/pkg/layer"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// hit stands for a cache hit in expected outcomes; unchecked for an
// outcome the test does not assert.
const (
	hit       = "CACHED"
	unchecked = "*"
)

// uuidRun is a RUN step whose result differs whenever it really runs.
const uuidRun = "RUN cat /proc/sys/kernel/random/uuid > /uuid"

// cacheLog collects the step-cache outcome of every step of one build.
// Stages run in parallel, so events come from several goroutines.
type cacheLog struct {
	mu sync.Mutex
	// texts holds the instruction of every step that started, by step
	// ("stage-1 3"); FROM steps are left out.
	texts map[string]string
	// outcome is hit or the miss reason, by step.
	outcome map[string]string
	// events counts the cache events of each step.
	events map[string]int
	logs   strings.Builder
}

func newCacheLog() *cacheLog {
	return &cacheLog{texts: map[string]string{}, outcome: map[string]string{}, events: map[string]int{}}
}

// stepKey splits a step name, "[stage-1 3/5] RUN x", into "stage-1 3"
// and "RUN x"; ok is false for FROM steps, whose names have no position.
func stepKey(name string) (key, text string, ok bool) {
	head, text, found := strings.Cut(strings.TrimPrefix(name, "["), "] ")
	pos, _, slash := strings.Cut(head, "/")
	if !found || !slash {
		return "", "", false
	}
	return pos, text, true
}

func (l *cacheLog) progress() executor.Progress {
	return executor.FuncProgress(func(e executor.Event) {
		l.mu.Lock()
		defer l.mu.Unlock()
		key, text, ok := stepKey(e.Name)
		switch e.Kind {
		case executor.StepStarted:
			if ok {
				l.texts[key] = text
			}
		case executor.StepCached:
			l.outcome[key] = hit
			l.events[key]++
		case executor.StepCacheMiss:
			l.outcome[key] = e.Reason
			l.events[key]++
		case executor.StepLog:
			l.logs.Write(e.Data)
		}
	})
}

// output is what the steps wrote to the progress output.
func (l *cacheLog) output() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.logs.String()
}

// isLayerStep reports whether an instruction goes through the step cache.
func isLayerStep(text string) bool {
	op, _, _ := strings.Cut(text, " ")
	return slices.Contains([]string{"RUN", "COPY", "ADD", "WORKDIR"}, strings.ToUpper(op))
}

// check fails unless every layer step has exactly one cache event, other
// steps none, and the outcomes are want (hit or a reason) by step. A nil
// want checks only the events.
func (l *cacheLog) check(t testing.TB, want map[string]string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, key := range slices.Sorted(maps.Keys(l.texts)) {
		text := l.texts[key]
		n := l.events[key]
		switch {
		case isLayerStep(text) && n != 1:
			t.Errorf("step %s (%s) has %d cache events, want 1", key, text, n)
		case !isLayerStep(text) && n != 0:
			t.Errorf("step %s (%s) has %d cache events, want none", key, text, n)
		}
		w, listed := want[key]
		switch {
		case want == nil:
		case !listed && isLayerStep(text):
			t.Errorf("step %s (%s): %q, but the test expects nothing", key, text, l.outcome[key])
		case listed && w != unchecked && l.outcome[key] != w:
			t.Errorf("step %s (%s):\n  got  %s\n  want %s", key, text, orNone(l.outcome[key]), w)
		}
	}
	for key := range want {
		if _, ok := l.texts[key]; !ok {
			t.Errorf("expected step %s did not run", key)
		}
	}
}

// all fails unless every layer step has the outcome want, and there are
// some.
func (l *cacheLog) all(t testing.TB, want string) {
	t.Helper()
	l.check(t, nil)
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for key, text := range l.texts {
		if !isLayerStep(text) {
			continue
		}
		n++
		if got := l.outcome[key]; got != want {
			t.Errorf("step %s (%s): %s, want %s", key, text, orNone(got), want)
		}
	}
	if n == 0 {
		t.Error("the build has no layer steps")
	}
}

func orNone(s string) string {
	if s == "" {
		return "(no cache event)"
	}
	return s
}

// cacheBuild builds s, which must name its state directory and context
// directory so that later builds share them, with the default
// snapshotter, and returns the result and its cache outcomes.
func cacheBuild(t testing.TB, s spec, opt func(*executor.Options)) (*result, *cacheLog) {
	t.Helper()
	if s.root == "" || s.contextDir == "" {
		t.Fatal("cacheBuild needs a fixed root and context directory")
	}
	if s.epoch == nil {
		s.epoch = runEpoch()
	}
	l := newCacheLog()
	r := mustRunBuild(t, s, "", func(o *executor.Options) {
		o.Progress = l.progress()
		if opt != nil {
			opt(o)
		}
	})
	return r, l
}

// newContext writes entries into a new context directory.
func newContext(t testing.TB, entries ...testutil.Entry) string {
	t.Helper()
	dir := t.TempDir()
	testutil.WriteTree(t, dir, entries...)
	return dir
}

func layerDigests(r *result) []digest.Digest {
	var out []digest.Digest
	for _, l := range r.img.Layers {
		out = append(out, l.Digest)
	}
	return out
}

// layoutDigest is the manifest digest of the image of a layout written by
// testutil.ImageLayout.
func layoutDigest(t testing.TB, dir string) digest.Digest {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(raw, &idx); err != nil || len(idx.Manifests) != 1 {
		t.Fatalf("layout index %s: %v, %d manifests", dir, err, len(idx.Manifests))
	}
	return idx.Manifests[0].Digest
}

// writeFile writes a context file; an existing one keeps its mode.
func writeFile(t testing.TB, dir, p, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, p), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func cacheContext() []testutil.Entry {
	return []testutil.Entry{
		file("src/a.txt", "a\n"),
		file("src/b.txt", "b\n"),
		testutil.Symlink("src/link", "a.txt"),
		file("src/debug.log", "log\n"),
		file("src/ignored.txt", "ignored\n"),
		file("other.txt", "other\n"),
		file("one.txt", "one\n"),
	}
}

// TestStepCacheWarmRebuild builds twice in the same state directory: the
// second build takes every layer step from the cache and gives the same
// image.
func TestStepCacheWarmRebuild(t *testing.T) {
	requireSandbox(t)
	s := spec{
		dockerfile: `FROM base AS tools
RUN cat /proc/sys/kernel/random/uuid > /tool-uuid

FROM base
WORKDIR /app
COPY src/ ./src/
ADD one.txt /one.txt
ENV X=1
LABEL l=1
` + uuidRun + `
COPY --from=tools /tool-uuid /tool-uuid
WORKDIR /app
`,
		base:       busyboxBase(t),
		root:       t.TempDir(),
		contextDir: newContext(t, cacheContext()...),
	}
	first, log1 := cacheBuild(t, s, nil)
	log1.all(t, "no earlier build of this step")
	second, log2 := cacheBuild(t, s, nil)
	log2.all(t, hit)
	for _, p := range []string{"/uuid", "/tool-uuid"} {
		if a, b := first.read(t, p), second.read(t, p); a != b || len(a) < 32 {
			t.Errorf("%s is %q after the first build and %q after the second: the RUN ran again", p, a, b)
		}
	}
	if a, b := layerDigests(first), layerDigests(second); !slices.Equal(a, b) {
		t.Errorf("layers differ:\n  first  %v\n  second %v", a, b)
	}
	if a, b := manifestDigest(t, first), manifestDigest(t, second); a != b {
		t.Errorf("manifest %s after the first build, %s after the second", a, b)
	}
}

// cacheCase is a build followed by a rebuild in the same state directory
// after change, with the expected outcome of every layer step of the
// rebuild.
type cacheCase struct {
	name       string
	dockerfile string
	ignore     []string
	buildArgs  map[string]string
	// change prepares the rebuild: it may change the context directory
	// and the spec.
	change func(t *testing.T, s *spec)
	// want is hit or the miss reason, by step ("stage-0 2").
	want map[string]string
}

// runCacheCases runs each case from base, the layout of the image the
// Dockerfiles name "base". Every Dockerfile has one uuidRun step, whose
// file tells whether the step really ran.
func runCacheCases(t *testing.T, base string, tests []cacheCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := spec{
				dockerfile: tc.dockerfile,
				ignore:     tc.ignore,
				buildArgs:  tc.buildArgs,
				base:       base,
				root:       t.TempDir(),
				contextDir: newContext(t, cacheContext()...),
			}
			first, _ := cacheBuild(t, s, nil)
			tc.change(t, &s)
			second, log := cacheBuild(t, s, nil)
			log.check(t, tc.want)
			var uuidStep []string
			for key, text := range log.texts {
				if text == uuidRun {
					uuidStep = append(uuidStep, key)
				}
			}
			if len(uuidStep) != 1 {
				t.Fatalf("the Dockerfile has %d %q steps, want 1", len(uuidStep), uuidRun)
			}
			ran := first.read(t, "/uuid") != second.read(t, "/uuid")
			if cached := tc.want[uuidStep[0]] == hit; ran == cached {
				t.Errorf("the uuid step ran: %v; its expected outcome: %s", ran, tc.want[uuidStep[0]])
			}
		})
	}
}

const copyDockerfile = `FROM base
WORKDIR /app
COPY src/ ./src/
` + uuidRun + `
`

// TestStepCacheMissReasons changes one input between two builds and
// checks which steps run again and why.
func TestStepCacheMissReasons(t *testing.T) {
	rerunFrom := func(key, reason string) map[string]string {
		want := map[string]string{"stage-0 1": hit, "stage-0 2": hit, "stage-0 3": hit}
		want[key] = reason
		if key != "stage-0 3" {
			want["stage-0 3"] = "an earlier step was rebuilt"
		}
		return want
	}
	requireSandbox(t)
	base := busyboxBase(t)
	// The same busybox with one more file: another image.
	otherBase := busyboxBase(t, file("etc/marker", "2\n"))
	baseChange := "base image changed: base@" + layoutDigest(t, base).String() + " → base@" + layoutDigest(t, otherBase).String()
	runCacheCases(t, base, []cacheCase{
		{
			name:       "context file modified",
			dockerfile: copyDockerfile,
			change:     func(t *testing.T, s *spec) { writeFile(t, s.contextDir, "src/b.txt", "B\n") },
			want:       rerunFrom("stage-0 2", "files changed: src/b.txt (modified)"),
		},
		{
			name:       "context file added",
			dockerfile: copyDockerfile,
			change:     func(t *testing.T, s *spec) { writeFile(t, s.contextDir, "src/c.txt", "c\n") },
			want:       rerunFrom("stage-0 2", "files changed: src/c.txt (added)"),
		},
		{
			name:       "context file removed",
			dockerfile: copyDockerfile,
			change: func(t *testing.T, s *spec) {
				if err := os.Remove(filepath.Join(s.contextDir, "src/b.txt")); err != nil {
					t.Fatal(err)
				}
			},
			want: rerunFrom("stage-0 2", "files changed: src/b.txt (removed)"),
		},
		{
			name:       "context file chmod",
			dockerfile: copyDockerfile,
			change: func(t *testing.T, s *spec) {
				if err := os.Chmod(filepath.Join(s.contextDir, "src/a.txt"), 0o755); err != nil {
					t.Fatal(err)
				}
			},
			want: rerunFrom("stage-0 2", "files changed: src/a.txt (mode)"),
		},
		{
			name:       "symlink target changed",
			dockerfile: copyDockerfile,
			change: func(t *testing.T, s *spec) {
				link := filepath.Join(s.contextDir, "src/link")
				if err := os.Remove(link); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink("b.txt", link); err != nil {
					t.Fatal(err)
				}
			},
			want: rerunFrom("stage-0 2", "files changed: src/link (modified)"),
		},
		{
			name:       "several files changed",
			dockerfile: copyDockerfile,
			change: func(t *testing.T, s *spec) {
				for _, n := range []string{"c", "d", "e", "f"} {
					writeFile(t, s.contextDir, "src/"+n+".txt", n)
				}
			},
			want: rerunFrom("stage-0 2", "files changed: src/c.txt (added), src/d.txt (added), src/e.txt (added) and 1 more"),
		},
		{
			name:       "build arg used by a RUN",
			dockerfile: "FROM base\nARG D=x\nCOPY one.txt /${D}/one.txt\nARG V\nRUN echo \"$V\" > /v\n" + uuidRun + "\n",
			buildArgs:  map[string]string{"V": "1"},
			change:     func(t *testing.T, s *spec) { s.buildArgs = map[string]string{"V": "2"} },
			want: map[string]string{
				"stage-0 2": hit,
				"stage-0 4": `build arg V changed: "1" → "2"`,
				// RUN sees every ARG set in its stage.
				"stage-0 5": `build arg V changed: "1" → "2"; an earlier step was rebuilt`,
			},
		},
		{
			name:       "build arg of the base stage",
			dockerfile: "FROM base AS a\nARG NAME=base\nFROM a\nRUN echo \"name=$NAME\" > /out\n" + uuidRun + "\n",
			buildArgs:  map[string]string{"NAME": "1"},
			change:     func(t *testing.T, s *spec) { s.buildArgs = map[string]string{"NAME": "2"} },
			want: map[string]string{
				"stage-1 1": `build arg NAME changed: "1" → "2"`,
				"stage-1 2": `build arg NAME changed: "1" → "2"; an earlier step was rebuilt`,
			},
		},
		{
			name:       "build arg in a COPY destination",
			dockerfile: "FROM base\nARG D=x\nCOPY one.txt /${D}/one.txt\nARG V\n" + uuidRun + "\n",
			buildArgs:  map[string]string{"D": "x"},
			change:     func(t *testing.T, s *spec) { s.buildArgs = map[string]string{"D": "y"} },
			want: map[string]string{
				"stage-0 2": `build arg D changed: "x" → "y"`,
				"stage-0 4": `build arg D changed: "x" → "y"; an earlier step was rebuilt`,
			},
		},
		{
			name:       "ENV before a RUN",
			dockerfile: "FROM base\nCOPY one.txt /one.txt\nENV X=1\n" + uuidRun + "\n",
			change:     func(t *testing.T, s *spec) { s.dockerfile = strings.Replace(s.dockerfile, "X=1", "X=2", 1) },
			want: map[string]string{
				"stage-0 1": hit,
				"stage-0 3": `ENV X changed: "1" → "2"`,
			},
		},
		{
			name:       "instruction text",
			dockerfile: "FROM base\nRUN echo a > /f\n" + uuidRun + "\n",
			change:     func(t *testing.T, s *spec) { s.dockerfile = strings.Replace(s.dockerfile, "echo a", "echo b", 1) },
			want: map[string]string{
				"stage-0 1": `instruction changed (was "RUN echo a > /f")`,
				"stage-0 2": "an earlier step was rebuilt",
			},
		},
		{
			name:       "base image",
			dockerfile: copyDockerfile,
			change:     func(t *testing.T, s *spec) { s.base = otherBase },
			want: map[string]string{
				"stage-0 1": baseChange,
				"stage-0 2": "an earlier step was rebuilt",
				"stage-0 3": "an earlier step was rebuilt",
			},
		},
		{
			name: "source stage rebuilt",
			dockerfile: "FROM base AS build\nRUN echo one > /out\n\nFROM base\nCOPY one.txt /one.txt\n" +
				"COPY --from=build /out /out\n" + uuidRun + "\n",
			change: func(t *testing.T, s *spec) { s.dockerfile = strings.Replace(s.dockerfile, "echo one", "echo two", 1) },
			want: map[string]string{
				"build 1":   `instruction changed (was "RUN echo one > /out")`,
				"stage-1 1": hit,
				"stage-1 2": "stage build was rebuilt",
				"stage-1 3": "an earlier step was rebuilt",
			},
		},
	})
}

// TestStepCacheUnaffected changes things that are not inputs of any step
// between two builds: every step is taken from the cache.
func TestStepCacheUnaffected(t *testing.T) {
	requireSandbox(t)
	allHit := map[string]string{"stage-0 1": hit, "stage-0 2": hit, "stage-0 3": hit}
	runCacheCases(t, busyboxBase(t), []cacheCase{
		{
			name:       "mtime only",
			dockerfile: copyDockerfile,
			change: func(t *testing.T, s *spec) {
				later := time.Now().Add(time.Hour)
				if err := os.Chtimes(filepath.Join(s.contextDir, "src/a.txt"), later, later); err != nil {
					t.Fatal(err)
				}
			},
			want: allHit,
		},
		{
			name:       "file excluded by .dockerignore",
			dockerfile: copyDockerfile,
			ignore:     []string{"src/ignored.txt"},
			change:     func(t *testing.T, s *spec) { writeFile(t, s.contextDir, "src/ignored.txt", "changed\n") },
			want:       allHit,
		},
		{
			name:       "file excluded by COPY --exclude",
			dockerfile: strings.Replace(copyDockerfile, "COPY src/", "COPY --exclude=*.log src/", 1),
			change:     func(t *testing.T, s *spec) { writeFile(t, s.contextDir, "src/debug.log", "changed\n") },
			want:       allHit,
		},
		{
			name:       "context file no COPY selects",
			dockerfile: copyDockerfile,
			change:     func(t *testing.T, s *spec) { writeFile(t, s.contextDir, "other.txt", "changed\n") },
			want:       allHit,
		},
		{
			name:       "LABEL before a RUN",
			dockerfile: "FROM base\nCOPY one.txt /one.txt\nLABEL l=1\n" + uuidRun + "\n",
			change:     func(t *testing.T, s *spec) { s.dockerfile = strings.Replace(s.dockerfile, "l=1", "l=2", 1) },
			want:       map[string]string{"stage-0 1": hit, "stage-0 3": hit},
		},
		{
			// Keys do not depend on where the context is.
			name:       "context in another directory",
			dockerfile: copyDockerfile,
			change:     func(t *testing.T, s *spec) { s.contextDir = newContext(t, cacheContext()...) },
			want:       allHit,
		},
	})
}

const smallDockerfile = "FROM base\nCOPY one.txt /one.txt\n" + uuidRun + "\n"

// TestStepCacheCorruptRecord overwrites every cache record with garbage:
// the steps run again, the build succeeds, and their records are written
// anew.
func TestStepCacheCorruptRecord(t *testing.T) {
	requireSandbox(t)
	s := spec{dockerfile: smallDockerfile, base: busyboxBase(t), root: t.TempDir(), contextDir: newContext(t, cacheContext()...)}
	first, _ := cacheBuild(t, s, nil)
	records, err := filepath.Glob(filepath.Join(s.root, "cache", "records", "*.json"))
	if err != nil || len(records) != 2 {
		t.Fatalf("records after the first build: %v, %v; want one per layer step", records, err)
	}
	for _, p := range records {
		if err := os.WriteFile(p, []byte("\x00garbage{"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	second, log := cacheBuild(t, s, nil)
	log.all(t, "its cache record is gone (pruned or unreadable)")
	if out := log.output(); !strings.Contains(out, "unusable cache record") {
		t.Errorf("the steps' output does not warn about the unusable record:\n%s", out)
	}
	if first.read(t, "/uuid") == second.read(t, "/uuid") {
		t.Error("the RUN step did not run again")
	}
	third, log := cacheBuild(t, s, nil)
	log.all(t, hit)
	if a, b := second.read(t, "/uuid"), third.read(t, "/uuid"); a != b {
		t.Errorf("/uuid is %q after the rebuild and %q after the next build", a, b)
	}
}

// TestStepCacheMissingBlob deletes the layer blob a record names: the step
// runs again.
func TestStepCacheMissingBlob(t *testing.T) {
	requireSandbox(t)
	s := spec{dockerfile: smallDockerfile, base: busyboxBase(t), root: t.TempDir(), contextDir: newContext(t, cacheContext()...)}
	first, _ := cacheBuild(t, s, nil)
	runLayer := first.img.Layers[len(first.img.Layers)-1].Digest
	if err := os.Remove(filepath.Join(s.root, "blobs", "sha256", runLayer.Encoded())); err != nil {
		t.Fatalf("removing the RUN step's layer: %v", err)
	}
	second, log := cacheBuild(t, s, nil)
	log.check(t, map[string]string{
		"stage-0 1": hit,
		"stage-0 2": "its cache record is gone (pruned or unreadable)",
	})
	if first.read(t, "/uuid") == second.read(t, "/uuid") {
		t.Error("the RUN step did not run again")
	}
}

// TestStepCacheNoCache runs every step again with NoCache, and records the
// new results for the next build.
func TestStepCacheNoCache(t *testing.T) {
	requireSandbox(t)
	s := spec{dockerfile: copyDockerfile, base: busyboxBase(t), root: t.TempDir(), contextDir: newContext(t, cacheContext()...)}
	first, _ := cacheBuild(t, s, nil)
	second, log := cacheBuild(t, s, func(o *executor.Options) { o.NoCache = true })
	log.all(t, "--no-cache")
	if first.read(t, "/uuid") == second.read(t, "/uuid") {
		t.Error("the RUN step did not run again")
	}
	third, log := cacheBuild(t, s, nil)
	log.all(t, hit)
	if a, b := second.read(t, "/uuid"), third.read(t, "/uuid"); a != b {
		t.Errorf("/uuid is %q after the --no-cache build and %q after the next build", a, b)
	}
}

// TestStepCacheNoCacheFilter runs the steps of the named stage again; the
// other stages keep their results.
func TestStepCacheNoCacheFilter(t *testing.T) {
	requireSandbox(t)
	s := spec{
		dockerfile: `FROM base AS a
RUN cat /proc/sys/kernel/random/uuid > /a

FROM base AS b
RUN cat /proc/sys/kernel/random/uuid > /b

FROM base
COPY one.txt /one.txt
COPY --from=b /b /b
COPY --from=a /a /a
` + uuidRun + `
`,
		base:       busyboxBase(t),
		root:       t.TempDir(),
		contextDir: newContext(t, cacheContext()...),
	}
	cacheBuild(t, s, nil)
	// COPY --from keys on what the source stage holds, so the steps
	// after the filtered stage's files miss, and the image has the
	// filtered stage's new files.
	for _, tc := range []struct {
		filter string
		stage  string // the label of the stage the filter selects
		file   string // the file the stage makes
		want   map[string]string
	}{
		{
			filter: "a",
			stage:  "a",
			file:   "/a",
			want: map[string]string{
				"a 1":       "--no-cache-filter a",
				"b 1":       hit,
				"stage-2 1": hit,
				"stage-2 2": hit,
				"stage-2 3": "stage a was rebuilt",
				"stage-2 4": "an earlier step was rebuilt",
			},
		},
		{
			filter: "1", // stage b, by index
			stage:  "b",
			file:   "/b",
			want: map[string]string{
				"a 1":       hit,
				"b 1":       "--no-cache-filter 1",
				"stage-2 1": hit,
				"stage-2 2": "stage b was rebuilt",
				"stage-2 3": "an earlier step was rebuilt",
				"stage-2 4": "an earlier step was rebuilt",
			},
		},
	} {
		t.Run(tc.filter, func(t *testing.T) {
			before, _ := cacheBuild(t, s, nil)
			after, log := cacheBuild(t, s, func(o *executor.Options) { o.NoCacheFilter = []string{tc.filter} })
			log.check(t, tc.want)
			if before.read(t, tc.file) == after.read(t, tc.file) {
				t.Errorf("%s is the same after --no-cache-filter %s: the final stage kept the old copy", tc.file, tc.filter)
			}
			again, next := cacheBuild(t, s, nil)
			next.all(t, hit)
			if a, b := after.read(t, tc.file), again.read(t, tc.file); a != b {
				t.Errorf("%s is %q after the filtered build and %q after the next build", tc.file, a, b)
			}
			log.mu.Lock()
			defer log.mu.Unlock()
			for key, reason := range log.outcome {
				if strings.Contains(reason, "--no-cache") && !strings.HasPrefix(key, tc.stage+" ") {
					t.Errorf("step %s (%s) is not in stage %s but missed with %q", key, log.texts[key], tc.stage, reason)
				}
			}
		})
	}
}

// TestStepCacheRestart builds with Build called anew, with Options made
// from scratch: the cache lives in the state directory only.
func TestStepCacheRestart(t *testing.T) {
	requireSandbox(t)
	s := spec{dockerfile: copyDockerfile, base: busyboxBase(t), root: t.TempDir(), contextDir: newContext(t, cacheContext()...)}
	first, _ := cacheBuild(t, s, nil)
	l := newCacheLog()
	o := executor.Options{
		Root:            s.root,
		Context:         s.contextDir,
		NamedContexts:   map[string]string{"base": testutil.Layout(s.base)},
		SourceDateEpoch: runEpoch(),
		Progress:        l.progress(),
		Jobs:            1,
	}
	img, err := executor.Build(context.Background(), s.graph(t), o)
	checkNoLeftovers(t, o.Root)
	if err != nil {
		t.Fatalf("building again: %v", err)
	}
	l.all(t, hit)
	if a, b := layerDigests(first), layerDigests(&result{img: img}); !slices.Equal(a, b) {
		t.Errorf("layers differ:\n  first  %v\n  second %v", a, b)
	}
}

// TestStepCacheLayerEncoding: SOURCE_DATE_EPOCH and the layer compression
// change the bytes of every layer, so they are inputs of every step.
func TestStepCacheLayerEncoding(t *testing.T) {
	requireSandbox(t)
	s := spec{dockerfile: smallDockerfile, base: busyboxBase(t), root: t.TempDir(), contextDir: newContext(t, cacheContext()...)}
	cacheBuild(t, s, nil)
	later := runEpoch().Add(time.Hour)
	epochChanged := fmt.Sprintf("SOURCE_DATE_EPOCH changed: %q → %q", strconv.FormatInt(runEpoch().Unix(), 10), strconv.FormatInt(later.Unix(), 10))
	_, log := cacheBuild(t, s, func(o *executor.Options) { o.SourceDateEpoch = &later })
	log.check(t, map[string]string{"stage-0 1": epochChanged, "stage-0 2": epochChanged + "; an earlier step was rebuilt"})
	// Back to the first build's inputs: its records are still there, and
	// the last build of each step is now this one again.
	_, log = cacheBuild(t, s, nil)
	log.all(t, hit)

	r, log := cacheBuild(t, s, func(o *executor.Options) { o.Compression = layer.EncodeOptions{Compression: layer.Zstd} })
	log.check(t, map[string]string{
		"stage-0 1": "layer compression changed: gzip → zstd",
		"stage-0 2": "layer compression changed: gzip → zstd; an earlier step was rebuilt",
	})
	for _, l := range r.img.Layers[len(r.img.Layers)-2:] {
		if l.MediaType != ocispec.MediaTypeImageLayerZstd {
			t.Errorf("layer %s has media type %s after a zstd build, want zstd", l.Digest, l.MediaType)
		}
	}
	_, log = cacheBuild(t, s, nil)
	log.all(t, hit)
}
