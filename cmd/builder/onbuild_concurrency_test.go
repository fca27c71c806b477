package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestOnbuildTriggersRun: triggers recorded in a base image's config run
// at the start of the child's stage, and are not inherited further.
func TestOnbuildTriggersRun(t *testing.T) {
	s := setup(t)
	root := t.TempDir()
	bb := "busybox=oci-layout://" + s.busybox + ":latest"
	baseCtx := t.TempDir()
	writeFiles(t, baseCtx, map[string]string{"Dockerfile": "FROM busybox\nONBUILD COPY app.txt /app/\nONBUILD RUN wc -c /app/app.txt > /app/size\n"})
	baseLayout := filepath.Join(t.TempDir(), "base")
	mustSucceed(t, runBuilder(t, s.builder, nil, "build", "--root", root, "--build-context", bb, "-t", "base:1", "-o", "type=oci,tar=false,dest="+baseLayout, baseCtx))

	childCtx := t.TempDir()
	writeFiles(t, childCtx, map[string]string{"Dockerfile": "FROM base\nRUN cat /app/size\n", "app.txt": "12345"})
	out := filepath.Join(t.TempDir(), "child")
	r := runBuilder(t, s.builder, nil, "build", "--root", root, "--progress", "plain",
		"--build-context", "base=oci-layout://"+baseLayout+":1", "-o", "type=oci,tar=false,dest="+out, "-t", "child:1", childCtx)
	mustSucceed(t, r)
	if !strings.Contains(r.stderr, "ONBUILD] RUN wc -c") || !strings.Contains(r.stderr, "5 /app/app.txt") {
		t.Errorf("triggers did not run before the stage's own steps:\n%s", r.stderr)
	}
	rootfs := umociUnpack(t, out, "1")
	if data, err := os.ReadFile(filepath.Join(rootfs, "app/app.txt")); err != nil || string(data) != "12345" {
		t.Errorf("file from the COPY trigger: %q, %v", data, err)
	}
	var cfg struct {
		Config struct{ OnBuild []string } `json:"config"`
	}
	readConfig(t, out, &cfg)
	if len(cfg.Config.OnBuild) != 0 {
		t.Errorf("triggers inherited by the child image: %q", cfg.Config.OnBuild)
	}
}

// TestConcurrentBuildsShareRoot: several builds at once on one --root,
// hits and misses of shared base layers, with prune running alongside;
// all succeed and their images are whole.
func TestConcurrentBuildsShareRoot(t *testing.T) {
	s := setup(t)
	root := t.TempDir()
	bb := "busybox=oci-layout://" + s.busybox + ":latest"
	const n = 6
	var wg sync.WaitGroup
	results := make([]result, n)
	outs := make([]string, n)
	for i := 0; i < n; i++ {
		ctx := t.TempDir()
		writeFiles(t, ctx, map[string]string{
			"Dockerfile": fmt.Sprintf("FROM busybox\nRUN echo %d > /n\nCOPY f /f\n", i%3),
			"f":          fmt.Sprint(i),
		})
		outs[i] = filepath.Join(t.TempDir(), "img")
		wg.Add(1)
		go func(i int, ctx string) {
			defer wg.Done()
			results[i] = runBuilder(t, s.builder, nil, "build", "--root", root, "--build-context", bb,
				"-o", "type=oci,tar=false,dest="+outs[i], "-t", fmt.Sprintf("c:%d", i), ctx)
		}(i, ctx)
	}
	wg.Add(1)
	var prune result
	go func() {
		defer wg.Done()
		prune = runBuilder(t, s.builder, nil, "prune", "--root", root)
	}()
	wg.Wait()
	mustSucceed(t, prune)
	for i, r := range results {
		mustSucceed(t, r)
		rootfs := umociUnpack(t, outs[i], fmt.Sprint(i))
		if data, err := os.ReadFile(filepath.Join(rootfs, "f")); err != nil || string(data) != fmt.Sprint(i) {
			t.Errorf("build %d: /f = %q, %v", i, data, err)
		}
		if data, err := os.ReadFile(filepath.Join(rootfs, "n")); err != nil || strings.TrimSpace(string(data)) != fmt.Sprint(i%3) {
			t.Errorf("build %d: /n = %q, %v", i, data, err)
		}
	}
}
