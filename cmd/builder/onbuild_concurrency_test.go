package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
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

// TestConcurrentBuildsShareRoot: eight builds at once on one --root, four
// Dockerfiles each built twice (sharing the base's layers, and two of them
// a RUN layer), with prune running alongside: all succeed, every image
// unpacks with umoci and holds what its Dockerfile put there, and the
// same Dockerfile and context give the same digest.
func TestConcurrentBuildsShareRoot(t *testing.T) {
	s := setup(t)
	root := t.TempDir()
	bb := "busybox=oci-layout://" + s.busybox + ":latest"
	variants := []struct{ dockerfile, n, f string }{
		{"FROM busybox\nRUN echo 0 > /n\nCOPY f /f\n", "0", "zero"},
		{"FROM busybox\nRUN echo 1 > /n\nCOPY f /f\n", "1", "one"},
		{"FROM busybox\nRUN echo 0 > /n\nCOPY f /f\n", "0", "two"},
		{"FROM busybox AS b\nCOPY f /f\nFROM busybox\nCOPY --from=b /f /f\nRUN echo 3 > /n\n", "3", "three"},
	}
	const n = 8
	type run struct {
		res  result
		err  error
		out  string
		vari int
	}
	runs := make([]run, n)
	var wg sync.WaitGroup
	for i := range runs {
		v := i % len(variants)
		ctx := t.TempDir()
		writeFiles(t, ctx, map[string]string{"Dockerfile": variants[v].dockerfile, "f": variants[v].f})
		runs[i].out, runs[i].vari = filepath.Join(t.TempDir(), "img"), v
		wg.Add(1)
		go func(r *run, ctx string, i int) {
			defer wg.Done()
			r.res, r.err = runBuilderAsync(s.builder, epochEnv, "build", "-q", "--root", root, "--build-context", bb,
				"-o", "type=oci,tar=false,dest="+r.out, "-t", fmt.Sprintf("c:%d", i), ctx)
		}(&runs[i], ctx, i)
	}
	prunes := make([]result, 2)
	pruneErrs := make([]error, 2)
	for i := range prunes {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 300 * time.Millisecond)
			prunes[i], pruneErrs[i] = runBuilderAsync(s.builder, nil, "prune", "--root", root)
		}(i)
	}
	wg.Wait()
	for i, p := range prunes {
		if pruneErrs[i] != nil {
			t.Fatal(pruneErrs[i])
		}
		mustSucceed(t, p)
	}
	digests := map[int]string{}
	for i, r := range runs {
		if r.err != nil {
			t.Fatal(r.err)
		}
		mustSucceed(t, r.res)
		want := variants[r.vari]
		rootfs := umociUnpack(t, r.out, fmt.Sprint(i))
		if data, err := os.ReadFile(filepath.Join(rootfs, "f")); err != nil || string(data) != want.f {
			t.Errorf("build %d: /f = %q, %v; want %q", i, data, err, want.f)
		}
		if data, err := os.ReadFile(filepath.Join(rootfs, "n")); err != nil || strings.TrimSpace(string(data)) != want.n {
			t.Errorf("build %d: /n = %q, %v; want %q", i, data, err, want.n)
		}
		d := strings.TrimSpace(r.res.stdout)
		if prev, ok := digests[r.vari]; ok && prev != d {
			t.Errorf("build %d: digest %s; the same Dockerfile gave %s", i, d, prev)
		}
		digests[r.vari] = d
	}
	if len(digests) != len(variants) || digests[0] == digests[2] {
		t.Errorf("different Dockerfiles gave the same digest: %v", digests)
	}
	checkBlobs(t, root)
}

// runBuilderAsync runs the builder like runBuilder, returning errors
// instead of failing the test, for use off the test goroutine.
func runBuilderAsync(bin string, env []string, args ...string) (result, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return result{out.String(), errb.String(), ee.ExitCode()}, nil
	}
	if err != nil {
		return result{}, fmt.Errorf("running builder: %w", err)
	}
	return result{out.String(), errb.String(), 0}, nil
}
