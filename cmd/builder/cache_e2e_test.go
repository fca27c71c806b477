package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// These tests check the step cache as a user sees it: what --progress
// plain and json say about each step, --no-cache, --no-cache-filter,
// builder prune, and that a cached rebuild gives the same image.

// cacheDockerfile has one layer step of each kind the cache keys: WORKDIR,
// COPY from the context, a RUN that reads a build arg and one that reads
// the copied file.
const cacheDockerfile = `FROM busybox
ARG V=1
WORKDIR /w
COPY src/ /w/src/
RUN echo "v=$V" > /w/v.txt
ENV E=1
RUN cat /w/src/a.txt > /w/copy.txt
`

// cacheProject is a build context with cacheDockerfile and a state
// directory that its builds share.
type cacheProject struct {
	s    shared
	ctx  string
	root string
}

func newCacheProject(t *testing.T, dockerfile string) cacheProject {
	t.Helper()
	p := cacheProject{s: setup(t), ctx: t.TempDir(), root: t.TempDir()}
	writeFiles(t, p.ctx, map[string]string{"Dockerfile": dockerfile, "src/a.txt": "a1\n", "src/b.txt": "b\n"})
	return p
}

// build runs a build of the project writing the image's root filesystem
// to a new directory, which it returns with the result; it must succeed.
func (p cacheProject) build(t *testing.T, args ...string) (result, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "rootfs")
	all := append([]string{"build", "--root", p.root,
		"--build-context", "busybox=oci-layout://" + p.s.busybox + ":latest", "-o", "type=local,dest=" + out}, args...)
	r := runBuilder(t, p.s.builder, nil, append(all, p.ctx)...)
	mustSucceed(t, r)
	return r, out
}

// plainStep is one step as --progress plain shows it.
type plainStep struct {
	id     int
	name   string
	cached bool
	miss   string // the reason after "cache miss: "
	missed bool
}

// layerStep reports whether the step is one the cache keys.
func (s plainStep) layerStep() bool {
	return regexp.MustCompile(`\] (RUN|COPY|ADD|WORKDIR) `).MatchString(s.name)
}

var plainLine = regexp.MustCompile(`^#(\d+) (.*)$`)

// plainSteps parses --progress plain output into its steps, in the order
// they started. The first line of a vertex names it.
func plainSteps(t *testing.T, out string) []*plainStep {
	t.Helper()
	var steps []*plainStep
	byID := map[int]*plainStep{}
	for _, line := range strings.Split(out, "\n") {
		m := plainLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		id, err := strconv.Atoi(m[1])
		if err != nil {
			t.Fatalf("vertex number in %q: %v", line, err)
		}
		st := byID[id]
		if st == nil {
			st = &plainStep{id: id, name: m[2]}
			byID[id] = st
			steps = append(steps, st)
			continue
		}
		switch text := m[2]; {
		case text == "CACHED":
			st.cached = true
		case strings.HasPrefix(text, "cache miss: "):
			st.missed, st.miss = true, strings.TrimPrefix(text, "cache miss: ")
		}
	}
	return steps
}

// layerSteps returns the steps the cache keys, failing unless there are
// want of them.
func layerSteps(t *testing.T, out string, want int) []*plainStep {
	t.Helper()
	var ls []*plainStep
	for _, st := range plainSteps(t, out) {
		if st.layerStep() {
			ls = append(ls, st)
		}
	}
	if len(ls) != want {
		t.Fatalf("%d layer steps in the output, want %d:\n%s", len(ls), want, out)
	}
	return ls
}

// step returns the step whose name ends with suffix.
func step(t *testing.T, out, suffix string) *plainStep {
	t.Helper()
	for _, st := range plainSteps(t, out) {
		if strings.HasSuffix(st.name, suffix) {
			return st
		}
	}
	t.Fatalf("no step ending in %q in the output:\n%s", suffix, out)
	return nil
}

// wantMiss checks that every step missed with reason.
func wantMiss(t *testing.T, out, reason string, steps ...*plainStep) {
	t.Helper()
	for _, st := range steps {
		if st.cached || !st.missed || st.miss != reason {
			t.Errorf("#%d %s: cached %v, miss %q; want a miss with reason %q\n%s", st.id, st.name, st.cached, st.miss, reason, out)
		}
	}
}

// wantCached checks that every step came from the cache.
func wantCached(t *testing.T, out string, steps ...*plainStep) {
	t.Helper()
	for _, st := range steps {
		if !st.cached || st.missed {
			t.Errorf("#%d %s: cached %v, miss %q; want CACHED\n%s", st.id, st.name, st.cached, st.miss, out)
		}
	}
}

// wantImageFile checks a file of a built root filesystem.
func wantImageFile(t *testing.T, rootfs, p, want string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(rootfs, p))
	if err != nil || string(data) != want {
		t.Errorf("image file %s = %q, %v; want %q", p, data, err, want)
	}
}

func TestCachePlainProgress(t *testing.T) {
	p := newCacheProject(t, cacheDockerfile)

	r, out := p.build(t, "--progress", "plain")
	wantMiss(t, r.stderr, "no earlier build of this step", layerSteps(t, r.stderr, 4)...)
	wantImageFile(t, out, "w/v.txt", "v=1\n")

	r, out = p.build(t, "--progress", "plain")
	wantCached(t, r.stderr, layerSteps(t, r.stderr, 4)...)
	if strings.Contains(r.stderr, "cache miss") {
		t.Errorf("an identical rebuild reports a cache miss:\n%s", r.stderr)
	}
	wantImageFile(t, out, "w/v.txt", "v=1\n")
	wantImageFile(t, out, "w/copy.txt", "a1\n")

	writeFiles(t, p.ctx, map[string]string{"src/a.txt": "a2\n"})
	r, out = p.build(t, "--progress", "plain")
	wantCached(t, r.stderr, step(t, r.stderr, "WORKDIR /w"))
	wantMiss(t, r.stderr, "files changed: src/a.txt (modified)", step(t, r.stderr, "COPY src/ /w/src/"))
	wantMiss(t, r.stderr, "an earlier step was rebuilt", step(t, r.stderr, "/w/copy.txt"))
	wantImageFile(t, out, "w/copy.txt", "a2\n")

	r, out = p.build(t, "--progress", "plain", "--build-arg", "V=2")
	wantCached(t, r.stderr, step(t, r.stderr, "WORKDIR /w"), step(t, r.stderr, "COPY src/ /w/src/"))
	wantMiss(t, r.stderr, `build arg V changed: "1" → "2"`, step(t, r.stderr, `RUN echo "v=$V" > /w/v.txt`))
	wantImageFile(t, out, "w/v.txt", "v=2\n")
	wantImageFile(t, out, "w/copy.txt", "a2\n")
}

// jsonLine is the part of a --progress json line the tests read.
type jsonLine struct {
	ID        int    `json:"id"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Cached    bool   `json:"cached"`
	CacheMiss string `json:"cacheMiss"`
}

// jsonLines decodes --progress json output, failing unless every line is
// one JSON object.
func jsonLines(t *testing.T, out string) []jsonLine {
	t.Helper()
	var lines []jsonLine
	for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Fatalf("line %d of --progress json is not a JSON object: %v\n%s", i+1, err, line)
		}
		var l jsonLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("line %d of --progress json: %v\n%s", i+1, err, line)
		}
		lines = append(lines, l)
	}
	return lines
}

// jsonCacheEvents maps the names of the steps that reported a cache hit
// or miss to that event.
func jsonCacheEvents(t *testing.T, out string) map[string]jsonLine {
	t.Helper()
	lines := jsonLines(t, out)
	names := map[int]string{}
	for _, l := range lines {
		if l.Kind == "started" {
			names[l.ID] = l.Name
		}
	}
	events := map[string]jsonLine{}
	for _, l := range lines {
		if l.Kind != "cached" && l.Kind != "cache-miss" {
			continue
		}
		name, ok := names[l.ID]
		if !ok {
			t.Fatalf("%s event for vertex %d, which never started:\n%s", l.Kind, l.ID, out)
		}
		if _, dup := events[name]; dup {
			t.Errorf("two cache events for %s:\n%s", name, out)
		}
		events[name] = l
	}
	return events
}

func TestCacheJSONProgress(t *testing.T) {
	p := newCacheProject(t, cacheDockerfile)
	layerNames := []string{
		"[stage-0 2/6] WORKDIR /w",
		"[stage-0 3/6] COPY src/ /w/src/",
		`[stage-0 4/6] RUN echo "v=$V" > /w/v.txt`,
		"[stage-0 6/6] RUN cat /w/src/a.txt > /w/copy.txt",
	}
	check := func(t *testing.T, out string, want func(name string) (kind, miss string)) {
		t.Helper()
		events := jsonCacheEvents(t, out)
		if len(events) != len(layerNames) {
			t.Errorf("%d steps with cache events, want %d:\n%s", len(events), len(layerNames), out)
		}
		for _, name := range layerNames {
			e, ok := events[name]
			kind, miss := want(name)
			switch {
			case !ok:
				t.Errorf("no cache event for %s:\n%s", name, out)
			case e.Kind != kind || e.CacheMiss != miss || e.Cached != (kind == "cached"):
				t.Errorf("%s: kind %q, cached %v, cacheMiss %q; want kind %q, cacheMiss %q", name, e.Kind, e.Cached, e.CacheMiss, kind, miss)
			}
		}
	}

	r, _ := p.build(t, "--progress", "json")
	check(t, r.stderr, func(string) (string, string) { return "cache-miss", "no earlier build of this step" })

	r, _ = p.build(t, "--progress", "json")
	check(t, r.stderr, func(string) (string, string) { return "cached", "" })

	writeFiles(t, p.ctx, map[string]string{"src/a.txt": "a2\n"})
	r, _ = p.build(t, "--progress", "json")
	check(t, r.stderr, func(name string) (string, string) {
		switch {
		case strings.Contains(name, "WORKDIR"):
			return "cached", ""
		case strings.Contains(name, "COPY"):
			return "cache-miss", "files changed: src/a.txt (modified)"
		}
		return "cache-miss", "an earlier step was rebuilt"
	})
}

func TestCacheNoCache(t *testing.T) {
	p := newCacheProject(t, cacheDockerfile)
	p.build(t, "--progress", "plain")
	r, out := p.build(t, "--progress", "plain", "--no-cache")
	wantMiss(t, r.stderr, "--no-cache", layerSteps(t, r.stderr, 4)...)
	wantImageFile(t, out, "w/copy.txt", "a1\n")
	// What --no-cache ran is recorded like any other result.
	r, _ = p.build(t, "--progress", "plain")
	wantCached(t, r.stderr, layerSteps(t, r.stderr, 4)...)
}

func TestCacheNoCacheFilter(t *testing.T) {
	p := newCacheProject(t, `FROM busybox AS tools
RUN echo tools > /t
FROM busybox
RUN echo final > /f
COPY --from=tools /t /t
`)
	p.build(t, "--progress", "plain")
	for _, filter := range []string{"tools", "0"} {
		t.Run(filter, func(t *testing.T) {
			r, out := p.build(t, "--progress", "plain", "--no-cache-filter", filter)
			wantMiss(t, r.stderr, "--no-cache-filter "+filter, step(t, r.stderr, "[tools 1/1] RUN echo tools > /t"))
			wantCached(t, r.stderr, step(t, r.stderr, "[stage-1 1/2] RUN echo final > /f"))
			// The COPY reads the rebuilt stage, whose content is the
			// same; it is not itself forced by the filter.
			if st := step(t, r.stderr, "COPY --from=tools /t /t"); strings.Contains(st.miss, "--no-cache-filter") {
				t.Errorf("#%d %s: miss %q, want the filter to apply only to stage tools", st.id, st.name, st.miss)
			}
			wantImageFile(t, out, "t", "tools\n")
			wantImageFile(t, out, "f", "final\n")
		})
	}
}

var pruneReport = regexp.MustCompile(`^removed (\d+) blobs, (\d+) layer directories, (\d+) build cache records and (\d+) cache mounts, \S+ freed\n$`)

// prune runs builder prune on the project's state directory and returns
// how many blobs and cache records it says it removed.
func (p cacheProject) prune(t *testing.T, args ...string) (blobs, records int) {
	t.Helper()
	blobs, records, _ = p.pruneAll(t, args...)
	return blobs, records
}

// pruneAll is prune, also returning how many cache mounts it removed.
func (p cacheProject) pruneAll(t *testing.T, args ...string) (blobs, records, mounts int) {
	t.Helper()
	r := runBuilder(t, p.s.builder, nil, append([]string{"prune", "--root", p.root}, args...)...)
	mustSucceed(t, r)
	m := pruneReport.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("prune printed %q, want its report", r.stdout)
	}
	blobs, _ = strconv.Atoi(m[1])
	records, _ = strconv.Atoi(m[3])
	mounts, _ = strconv.Atoi(m[4])
	return blobs, records, mounts
}

func TestCachePrune(t *testing.T) {
	p := newCacheProject(t, cacheDockerfile)
	// -o keeps no image in the state directory: everything the build
	// stored is unused.
	p.build(t, "--progress", "plain")

	blobs, records := p.prune(t)
	if blobs == 0 || records != 4 {
		t.Errorf("prune removed %d blobs and %d cache records, want some blobs and the 4 records of the build", blobs, records)
	}
	// The steps' keys are those of the last build, but their records
	// are gone with their layers.
	r, out := p.build(t, "--progress", "plain")
	wantMiss(t, r.stderr, "its cache record is gone (pruned or unreadable)", layerSteps(t, r.stderr, 4)...)
	wantImageFile(t, out, "w/copy.txt", "a1\n")

	blobs, records = p.prune(t, "--keep-storage", "1g")
	if blobs == 0 || records != 0 {
		t.Errorf("prune --keep-storage 1g removed %d blobs and %d cache records, want the base image's blobs and no record", blobs, records)
	}
	r, out = p.build(t, "--progress", "plain")
	wantCached(t, r.stderr, layerSteps(t, r.stderr, 4)...)
	wantImageFile(t, out, "w/v.txt", "v=1\n")
	wantImageFile(t, out, "w/copy.txt", "a1\n")
}

func TestCacheFlagErrors(t *testing.T) {
	p := newCacheProject(t, cacheDockerfile)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"prune", "--root", p.root, "--keep-storage", "garbage"}, "--keep-storage"},
		{[]string{"build", "--root", p.root, "--jobs", "-1", p.ctx}, "--jobs -1"},
		{[]string{"build", "--root", p.root, "--progress", "nonsense", p.ctx}, `--progress "nonsense"`},
	} {
		r := runBuilder(t, p.s.builder, nil, tc.args...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("builder %s: exit code %d, stderr %q; want a failure naming %s", strings.Join(tc.args[3:], " "), r.code, r.stderr, tc.want)
		}
	}
	if ents, err := os.ReadDir(filepath.Join(p.root, "blobs")); err == nil && len(ents) > 0 {
		t.Errorf("a build with a bad flag stored blobs: %d entries", len(ents))
	}
}

func TestCacheWarmRebuildSameDigest(t *testing.T) {
	p := newCacheProject(t, cacheDockerfile)
	epoch := []string{"--build-arg", "SOURCE_DATE_EPOCH=1700000000"}
	digest := func(args ...string) string {
		t.Helper()
		r, _ := p.build(t, append(append([]string{"-q"}, epoch...), args...)...)
		d := strings.TrimSpace(r.stdout)
		if !strings.HasPrefix(d, "sha256:") {
			t.Fatalf("-q printed %q, want a manifest digest", r.stdout)
		}
		return d
	}
	cold := digest()
	if warm := digest(); warm != cold {
		t.Errorf("cached rebuild gives manifest %s, the first build %s", warm, cold)
	}
	r, _ := p.build(t, append([]string{"--progress", "plain"}, epoch...)...)
	wantCached(t, r.stderr, layerSteps(t, r.stderr, 4)...)
	if !strings.Contains(r.stderr, "image manifest "+cold+"\n") {
		t.Errorf("fully cached rebuild does not report manifest %s:\n%s", cold, r.stderr)
	}
	// Running every step again gives the same bytes as the cache.
	if fresh := digest("--no-cache"); fresh != cold {
		t.Errorf("--no-cache rebuild gives manifest %s, the cached one %s", fresh, cold)
	}
}
