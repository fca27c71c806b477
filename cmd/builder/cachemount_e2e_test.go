package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cacheMountDockerfile appends a line to a cache mount on every build
// (the build arg N makes the RUN run again) and copies what the cache
// held into the image.
const cacheMountDockerfile = `FROM busybox
ARG N
RUN --mount=type=cache,id=log,target=/c echo "$N" >> /c/log && cp /c/log /seen
`

// TestCacheMountPrune: a cache mount keeps its contents across builds
// until builder prune removes it; the type filters select the cache
// mounts alone, or everything but them.
func TestCacheMountPrune(t *testing.T) {
	p := newCacheProject(t, cacheMountDockerfile)
	p.build(t, "--build-arg", "N=1")
	_, out := p.build(t, "--build-arg", "N=2")
	wantImageFile(t, out, "seen", "1\n2\n")

	blobs, records, mounts := p.pruneAll(t, "--filter", "type!=exec.cachemount")
	if blobs == 0 || records == 0 || mounts != 0 {
		t.Errorf("prune type!=exec.cachemount removed %d blobs, %d records, %d cache mounts; want blobs and records, no cache mount", blobs, records, mounts)
	}
	_, out = p.build(t, "--build-arg", "N=3")
	wantImageFile(t, out, "seen", "1\n2\n3\n")

	blobs, records, mounts = p.pruneAll(t, "--filter", "type=exec.cachemount", "--keep-storage", "1g")
	if blobs != 0 || records != 0 || mounts != 0 {
		t.Errorf("prune type=exec.cachemount --keep-storage 1g removed %d blobs, %d records, %d cache mounts; want nothing", blobs, records, mounts)
	}
	blobs, records, mounts = p.pruneAll(t, "--filter", "type=exec.cachemount")
	if blobs != 0 || records != 0 || mounts != 1 {
		t.Errorf("prune type=exec.cachemount removed %d blobs, %d records, %d cache mounts; want the one cache mount only", blobs, records, mounts)
	}
	if ents, err := os.ReadDir(filepath.Join(p.root, "cachemounts")); err != nil || len(ents) != 0 {
		t.Errorf("cachemounts after prune: %v, %v; want it empty", ents, err)
	}
	_, out = p.build(t, "--build-arg", "N=4")
	wantImageFile(t, out, "seen", "4\n")

	_, _, mounts = p.pruneAll(t)
	if mounts != 1 {
		t.Errorf("prune removed %d cache mounts, want 1", mounts)
	}
}

func TestPruneFilterErrors(t *testing.T) {
	p := newCacheProject(t, cacheMountDockerfile)
	for _, args := range [][]string{
		{"--filter", "type=regular"},
		{"--filter", "until=24h"},
		{"--filter", "type=exec.cachemount", "--filter", "type!=exec.cachemount"},
	} {
		r := runBuilder(t, p.s.builder, nil, append([]string{"prune", "--root", p.root}, args...)...)
		if r.code == 0 || !strings.Contains(r.stderr, "--filter") {
			t.Errorf("prune %q: exit %d, stderr %q; want a --filter error", args, r.code, r.stderr)
		}
	}
}
