package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/ocibuilder/builder/internal/testutil"
)

// TestExampleGoService builds examples/go-service offline with the host's
// Go toolchain as the named context "go", changes one source file and
// builds again: the second build reuses the Go build cache of the first
// (its compile step recompiles only the changed package and the command),
// and the module download step stays cached.
func TestExampleGoService(t *testing.T) {
	s := setup(t)
	goroot := runtime.GOROOT()
	if out, err := exec.Command("go", "env", "GOROOT").Output(); err == nil {
		goroot = strings.TrimSpace(string(out))
	}
	ctx := t.TempDir()
	if err := os.CopyFS(ctx, os.DirFS(filepath.Join(testutil.RepoRoot(t), "examples", "go-service"))); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	build := func() (result, string) {
		t.Helper()
		out := filepath.Join(t.TempDir(), "rootfs")
		r := runBuilder(t, s.builder, nil, "build", "--root", root, "--progress", "plain",
			"--build-context", "busybox=oci-layout://"+s.busybox+":latest", "--build-context", "go="+goroot,
			"-o", "type=local,dest="+out, ctx)
		mustSucceed(t, r)
		return r, out
	}
	run := func(rootfs string) string {
		t.Helper()
		out, err := exec.Command(filepath.Join(rootfs, "service"), "-once").Output()
		if err != nil {
			t.Fatalf("running the service: %v", err)
		}
		return string(out)
	}
	r, out := build()
	if got := run(out); got != "hello, world\n" {
		t.Errorf("service says %q", got)
	}
	if !strings.Contains(r.stderr, "\nnet/http\n") && !strings.Contains(r.stderr, " net/http\n") {
		t.Errorf("the first build did not compile net/http:\n%s", r.stderr)
	}
	src := filepath.Join(ctx, "internal", "greeting", "greeting.go")
	code, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src, []byte(strings.Replace(string(code), `"hello, "`, `"hi, "`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	r, out = build()
	if got := run(out); got != "hi, world\n" {
		t.Errorf("service says %q after the change", got)
	}
	byName := func(prefix string) *plainStep {
		t.Helper()
		for _, st := range plainSteps(t, r.stderr) {
			if strings.HasPrefix(st.name, prefix) {
				return st
			}
		}
		t.Fatalf("no step %s in the output:\n%s", prefix, r.stderr)
		return nil
	}
	wantCached(t, r.stderr, byName("[build 3/4] RUN"))
	if byName("[build 4/4] RUN").cached {
		t.Fatalf("the compile step was cached after a source change")
	}
	for _, pkg := range []string{"net/http", "runtime", "fmt"} {
		if strings.Contains(r.stderr, " "+pkg+"\n") {
			t.Errorf("the rebuild compiled %s again: the Go build cache was not reused\n%s", pkg, r.stderr)
		}
	}
	if !strings.Contains(r.stderr, " example.com/service/internal/greeting\n") {
		t.Errorf("the rebuild did not compile the changed package:\n%s", r.stderr)
	}
}
