package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocibuilder/builder/pkg/oci"
	"github.com/ocibuilder/builder/pkg/statedir"
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
// a RUN layer), with a prune waiting alongside; then the four again, on
// what the prune left, with a second prune: all succeed, every image
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
	// The store must exist, or prune has nothing to wait for.
	if _, err := oci.OpenStore(root); err != nil {
		t.Fatal(err)
	}
	digests := map[int]string{}
	build := 0
	for round, n := range []int{8, len(variants)} {
		type run struct {
			b    *startedBuild
			out  string
			vari int
		}
		runs := make([]run, n)
		// The test holds the state lock as a build would, so that the
		// prune is seen waiting before any build starts and keeps
		// waiting until every build has begun.
		held, err := statedir.Open(context.Background(), root, statedir.Shared)
		if err != nil {
			t.Fatal(err)
		}
		gate := held.Close
		t.Cleanup(func() { gate() }) // a second call does nothing
		prune := startPrune(t, s.builder, root)
		for i := range runs {
			v := build % len(variants)
			ctx := t.TempDir()
			writeFiles(t, ctx, map[string]string{"Dockerfile": variants[v].dockerfile, "f": variants[v].f})
			runs[i].out, runs[i].vari = filepath.Join(t.TempDir(), "img"), v
			runs[i].b = startBuilder(t, s.builder, epochEnv, nil, "build", "--progress", "plain", "--root", root, "--build-context", bb,
				"-o", "type=oci,tar=false,dest="+runs[i].out, "-t", fmt.Sprintf("c:%d", build), ctx)
			build++
		}
		// A build's first step comes after it took the state lock.
		for _, r := range runs {
			r.b.waitLine(t, "FROM busybox")
		}
		if err := gate(); err != nil {
			t.Fatal(err)
		}
		for i, r := range runs {
			if err := r.b.wait(); err != nil {
				t.Fatalf("round %d, build %d: %v\n%s", round, i, err, r.b.output())
			}
		}
		p := <-prune
		if p.err != nil {
			t.Fatal(p.err)
		}
		mustSucceed(t, p.res)
		for i, r := range runs {
			want := variants[r.vari]
			rootfs := umociUnpack(t, r.out, fmt.Sprint(build-n+i))
			if data, err := os.ReadFile(filepath.Join(rootfs, "f")); err != nil || string(data) != want.f {
				t.Errorf("round %d, build %d: /f = %q, %v; want %q", round, i, data, err, want.f)
			}
			if data, err := os.ReadFile(filepath.Join(rootfs, "n")); err != nil || strings.TrimSpace(string(data)) != want.n {
				t.Errorf("round %d, build %d: /n = %q, %v; want %q", round, i, data, err, want.n)
			}
			d := manifestDigest(t, r.b.output())
			if prev, ok := digests[r.vari]; ok && prev != d {
				t.Errorf("round %d, build %d: digest %s; the same Dockerfile gave %s", round, i, d, prev)
			}
			digests[r.vari] = d
		}
	}
	if len(digests) != len(variants) || digests[0] == digests[2] {
		t.Errorf("different Dockerfiles gave the same digest: %v", digests)
	}
	checkBlobs(t, root)
}

type pruneResult struct {
	res result
	err error
}

// startPrune starts builder prune and returns once it is trying to take
// the state lock (it has opened the lock file), with a channel that yields
// its result.
func startPrune(t *testing.T, bin, root string) <-chan pruneResult {
	t.Helper()
	opened := watchOpen(t, filepath.Join(root, statedir.LockName))
	ch := make(chan pruneResult, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, err := runBuilderAsync(bin, nil, "prune", "--root", root)
		ch <- pruneResult{res, err}
	}()
	select {
	case <-opened:
	case <-done:
		p := <-ch
		t.Fatalf("prune ended without waiting for the state lock: %v\n%s%s", p.err, p.res.stdout, p.res.stderr)
	}
	return ch
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
