package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkEvent is a "warning" line of --progress json.
type checkEvent struct {
	ID      int    `json:"id"`
	Kind    string `json:"kind"`
	File    string `json:"file"`
	Line    int    `json:"line"`
	Rule    string `json:"rule"`
	URL     string `json:"url"`
	Message string `json:"message"`
}

// warningEvents decodes the JSON lines of out and returns the "warning"
// events as "Rule@line", checking that every one names the Dockerfile, the
// rule's documentation and what it found.
func warningEvents(t *testing.T, out, dockerfile string) []string {
	t.Helper()
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var e checkEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("not a JSON line: %q: %v", line, err)
		}
		if e.Kind != "warning" {
			continue
		}
		if e.File != dockerfile || !strings.HasPrefix(e.URL, "https://docs.docker.com/go/dockerfile/rule/") || e.Message == "" {
			t.Errorf("incomplete warning event %+v", e)
		}
		got = append(got, fmt.Sprintf("%s@%d", e.Rule, e.Line))
	}
	return got
}

// TestCheckReportsWithoutBuilding: --check prints the findings and exits 1
// when there are some, 0 when there are none, without building and without
// creating the state directory; --progress json gives one event per finding.
func TestCheckReportsWithoutBuilding(t *testing.T) {
	s := setup(t)
	ctx := t.TempDir()
	df := filepath.Join(ctx, "Dockerfile")
	writeFiles(t, ctx, map[string]string{
		"Dockerfile": "FROM busybox AS Base\nMAINTAINER me\nRUN exit 1\nCMD echo hi\n" +
			"FROM busybox AS final\nCMD [\"/bin/sh\"]\n",
	})
	root := filepath.Join(t.TempDir(), "root")

	r := runBuilder(t, s.builder, nil, "build", "--check", "--root", root, ctx)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"Check complete, 3 warnings have been found!\n",
		"\nWARNING: StageNameCasing - https://docs.docker.com/go/dockerfile/rule/stage-name-casing/\nStage name 'Base' should be lowercase\n" + df + ":1\n",
		"   1 | >>> FROM busybox AS Base\n",
		"\nWARNING: MaintainerDeprecated - ",
		"\nWARNING: JSONArgsRecommended - https://docs.docker.com/go/dockerfile/rule/json-args-recommended/\n" +
			"JSON arguments recommended for CMD to prevent unintended behavior related to OS signals\n" + df + ":4\n",
		"   4 | >>> CMD echo hi\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		t.Errorf("--check created the state directory: %v", err)
	}

	r = runBuilder(t, s.builder, nil, "build", "--check", "--progress", "json", "--root", root, ctx)
	got := warningEvents(t, r.stdout, df)
	if r.code != 1 || strings.Join(got, " ") != "StageNameCasing@1 MaintainerDeprecated@2 JSONArgsRecommended@4" {
		t.Errorf("json: exit %d, warnings %q\nstdout:\n%s\nstderr:\n%s", r.code, got, r.stdout, r.stderr)
	}

	// With a target, the steps of the other stages are not checked.
	r = runBuilder(t, s.builder, nil, "build", "--check", "--target", "final", "--root", root, ctx)
	if r.code != 1 || !strings.Contains(r.stdout, "Check complete, 2 warnings have been found!\n") || strings.Contains(r.stdout, "JSONArgs") {
		t.Errorf("--target final: exit %d\n%s", r.code, r.stdout)
	}

	for _, mode := range []string{"plain", "json"} {
		r = runBuilder(t, s.builder, nil, "build", "--check", "--progress", mode, "--root", root,
			"--build-arg", "BUILDKIT_DOCKERFILE_CHECK=skip=StageNameCasing,MaintainerDeprecated,JSONArgsRecommended", ctx)
		want := "Check complete, no warnings found.\n"
		if mode == "json" {
			want = ""
		}
		if r.code != 0 || r.stdout != want || r.stderr != "" {
			t.Errorf("%s, all skipped: exit %d\nstdout:\n%s\nstderr:\n%s", mode, r.code, r.stdout, r.stderr)
		}
	}
}

// TestCheckErrorTrue: with error=true, --check and a build both fail
// naming the rules and the line, show the findings, and leave nothing
// behind.
func TestCheckErrorTrue(t *testing.T) {
	s := setup(t)
	ctx := t.TempDir()
	df := filepath.Join(ctx, "Dockerfile")
	writeFiles(t, ctx, map[string]string{"Dockerfile": "# check=error=true\nFROM busybox\nMAINTAINER me\nCMD echo hi\n"})
	root := filepath.Join(t.TempDir(), "root")
	out := filepath.Join(t.TempDir(), "out")
	wantErr := "error: " + df + ":3: lint violation found for rules: JSONArgsRecommended, MaintainerDeprecated\n"

	r := runBuilder(t, s.builder, nil, "build", "--check", "--root", root, ctx)
	if r.code != 1 || r.stderr != wantErr || !strings.Contains(r.stdout, "Check complete, 2 warnings have been found!") {
		t.Errorf("--check: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}

	r = runBuilder(t, s.builder, nil, "build", "--progress", "plain", "--root", root, "-o", out,
		"--build-context", "busybox=oci-layout://"+s.busybox+":latest", ctx)
	wantLine := "WARN: JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals (" + df + ":4)\n"
	if r.code != 1 || !strings.HasSuffix(r.stderr, wantErr) || !strings.Contains(r.stderr, wantLine) {
		t.Errorf("build: exit %d\nstderr:\n%s\nwant %q and %q", r.code, r.stderr, wantLine, wantErr)
	}
	for _, p := range []string{root, out} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("the failed build left %s: %v", p, err)
		}
	}

	r = runBuilder(t, s.builder, nil, "build", "--progress", "json", "--root", root, "-o", out,
		"--build-context", "busybox=oci-layout://"+s.busybox+":latest", ctx)
	if got := warningEvents(t, r.stderr[:strings.LastIndex(r.stderr, "error: ")], df); r.code != 1 ||
		strings.Join(got, " ") != "MaintainerDeprecated@3 JSONArgsRecommended@4" {
		t.Errorf("json build: exit %d, warnings %q\nstderr:\n%s", r.code, got, r.stderr)
	}
}

// TestBuildShowsFindings: a build shows the findings of parsing and those
// of the build itself (UndefinedVar) in plain and JSON progress, and still
// builds.
func TestBuildShowsFindings(t *testing.T) {
	s := setup(t)
	ctx := t.TempDir()
	df := filepath.Join(ctx, "Dockerfile")
	writeFiles(t, ctx, map[string]string{
		"Dockerfile": "FROM busybox\nENV A=1\nCOPY a$NOPE.txt /\nCMD echo hi\n",
		"a.txt":      "a",
	})
	base := "busybox=oci-layout://" + s.busybox + ":latest"

	r := runBuilder(t, s.builder, nil, "build", "--progress", "plain", "--root", t.TempDir(), "-o", t.TempDir(), "--build-context", base, ctx)
	mustSucceed(t, r)
	for _, want := range []string{
		"WARN: JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals (" + df + ":4)\n",
		"WARN: UndefinedVar: Usage of undefined variable '$NOPE' (" + df + ":3)\n",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("plain output lacks %q:\n%s", want, r.stderr)
		}
	}

	r = runBuilder(t, s.builder, nil, "build", "--progress", "json", "--root", t.TempDir(), "-o", t.TempDir(), "--build-context", base, ctx)
	mustSucceed(t, r)
	if got := warningEvents(t, r.stderr, df); strings.Join(got, " ") != "JSONArgsRecommended@4 UndefinedVar@3" {
		t.Errorf("json warnings %q\n%s", got, r.stderr)
	}
}
