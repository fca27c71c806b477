package executor_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocibuilder/builder/internal/source"
	"github.com/ocibuilder/builder/internal/testutil"
	"github.com/ocibuilder/builder/pkg/executor"
)

func TestBuildErrors(t *testing.T) {
	base := testutil.BaseLayout(t)
	localDir := t.TempDir()
	tests := []struct {
		name   string
		df     string
		line   int
		want   string // in the message
		target error  // wrapped, when set
	}{
		{name: "RUN", df: "FROM scratch\nENV A=1\nRUN echo hi\n", line: 3, want: "/bin/sh"},
		{name: "RUN over several lines", df: "FROM scratch\nRUN echo \\\n  hi \\\n  there\nENV A=1\n", line: 2, want: "/bin/sh"},
		{name: "RUN in a needed stage", df: "FROM scratch AS a\nRUN x\nFROM scratch\nCOPY --from=a /x /x\n", line: 2, want: "/bin/sh"},
		{name: "unknown base image", df: "FROM scratch\nENV A=1\nFROM nosuchimage:1\nENV B=2\n", line: 3, want: "nosuchimage"},
		{name: "local directory as base", df: "FROM localdir\n", line: 1, want: "oci-layout"},
		{name: "bad FROM platform", df: "FROM --platform=linux scratch\n", line: 1, want: "linux"},
		{name: "missing source in a later stage", df: "FROM scratch AS a\nENV A=1\nFROM a\n\n# comment\nCOPY nope /x\n", line: 6, want: "nope"},
		{name: "unknown --from", df: "FROM scratch\nCOPY --from=nosuch /x /x\n", line: 2, want: "nosuch"},
		{name: "unknown chown user", df: "FROM base\nCOPY --chown=ghost a.txt /a\n", line: 2, want: "ghost"},
		{name: "destination under a file", df: "FROM base\nCOPY a.txt /etc/passwd/x\n", line: 2},
		{name: "WORKDIR on a file", df: "FROM base\nWORKDIR /etc/passwd\n", line: 2, want: "/etc/passwd"},
		{name: "RUN as unknown USER", df: "FROM base\nUSER ghost\nWORKDIR /new\nRUN true\n", line: 4, want: "ghost"},
		{name: "STOPSIGNAL", df: "FROM scratch\nSTOPSIGNAL SIGNOPE\n", line: 2, want: "SIGNOPE"},
		{name: "STOPSIGNAL number", df: "FROM scratch\nSTOPSIGNAL 99\n", line: 2, want: "99"},
		{name: "EXPOSE protocol", df: "FROM scratch\nEXPOSE 80/xyz\n", line: 2, want: "xyz"},
		{name: "EXPOSE range", df: "FROM scratch\nEXPOSE 90-80\n", line: 2, want: "90-80"},
		{name: "EXPOSE port", df: "FROM scratch\nEXPOSE 99999\n", line: 2, want: "99999"},
		{name: "outside the context", df: "FROM scratch\nCOPY ../x /x\n", line: 2, target: source.ErrOutsideContext},
		{name: "undefined variable with :?", df: "FROM scratch\nENV A=${NOPE:?required}\n", line: 2, want: "NOPE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err, pe := buildErr(t, spec{
				dockerfile: tc.df,
				base:       base,
				named:      map[string]string{"localdir": localDir},
				context:    []testutil.Entry{file("a.txt", "A")},
			})
			if pe.Loc.Line != tc.line {
				t.Errorf("error %v is at line %d, want %d", err, pe.Loc.Line, tc.line)
			}
			if !strings.HasPrefix(err.Error(), "Dockerfile:") {
				t.Errorf("error %q does not start with the location", err)
			}
			if tc.want != "" && !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if tc.target != nil && !errors.Is(err, tc.target) {
				t.Errorf("error %v does not wrap %v", err, tc.target)
			}
		})
	}
}

func TestBuildCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := spec{dockerfile: "FROM scratch\nCOPY a.txt /a\n", context: []testutil.Entry{file("a.txt", "A")}}
	o := s.options(t)
	if _, err := executor.Build(ctx, s.graph(t), o); !errors.Is(err, context.Canceled) {
		t.Errorf("Build with a canceled context returned %v, want context.Canceled", err)
	}
	checkNoLeftovers(t, o.Root)
}

func TestBuildOptions(t *testing.T) {
	g := spec{dockerfile: "FROM scratch\n"}.graph(t)
	if _, err := executor.Build(context.Background(), g, executor.Options{}); err == nil {
		t.Error("Build without Root succeeded")
	}
	if _, err := executor.Build(context.Background(), nil, executor.Options{Root: t.TempDir()}); err == nil {
		t.Error("Build of a nil graph succeeded")
	}
	notDir := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if _, err := executor.Build(context.Background(), g, executor.Options{Root: root, Context: notDir}); err == nil {
		t.Error("Build with a file as context succeeded")
	}
	checkNoLeftovers(t, root)
}

// A state directory is shared by builds: stale scratch data of a build
// that died is removed, and layers are reused.
func TestStateReuse(t *testing.T) {
	root := t.TempDir()
	s := spec{dockerfile: "FROM scratch\nCOPY a.txt /a\n", context: []testutil.Entry{file("a.txt", "A")}, root: root}
	stale := filepath.Join(root, "tmp", "build-0123456789abcdef")
	if err := os.MkdirAll(filepath.Join(stale, "upper-1"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale+".lock", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r1 := build(t, s)
	r2 := build(t, s)
	if r1.img.Layers[0].Digest != r2.img.Layers[0].Digest {
		t.Errorf("the same COPY gave layers %s and %s", r1.img.Layers[0].Digest, r2.img.Layers[0].Digest)
	}
	r2.wantFile(t, "/a", "A")
}
