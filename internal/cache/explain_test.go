package cache_test

import (
	"os"
	"strings"
	"testing"

	"github.com/ocibuilder/builder/internal/cache"
	"github.com/opencontainers/go-digest"
)

// entry builds an Entry as a step would record it, keyed by its input.
func entry(text string, in cache.Input, files []cache.File) *cache.Entry {
	if files != nil {
		in.Files = cache.FilesDigest(files)
	}
	return &cache.Entry{Text: text, Key: in.Key(), Input: in, Files: files}
}

func regFile(p, content string) cache.File {
	return cache.File{Path: p, Mode: 0o644, Digest: digest.FromString(content)}
}

func TestExplain(t *testing.T) {
	parent := digest.FromString("parent")
	runIn := func(change func(*cache.Input)) cache.Input {
		in := cache.Input{
			Parent:    parent,
			Op:        "RUN",
			Args:      []string{"/bin/sh", "-c", "make"},
			BuildArgs: []string{"V=1"},
			Env:       []string{"PATH=/bin", "X=1"},
			Workdir:   "/src",
			Platform:  "linux/amd64",
		}
		if change != nil {
			change(&in)
		}
		return in
	}
	run := func(change func(*cache.Input)) *cache.Entry { return entry("RUN make", runIn(change), nil) }
	copyIn := func(change func(*cache.Input)) cache.Input {
		in := cache.Input{Parent: parent, Op: "COPY", Args: []string{"--dest=/dst/", "src/"}}
		if change != nil {
			change(&in)
		}
		return in
	}
	files := []cache.File{
		{Path: "src", Mode: uint32(os.ModeDir | 0o755)},
		regFile("src/a.txt", "a"),
		regFile("src/b.txt", "b"),
		{Path: "src/link", Mode: uint32(os.ModeSymlink | 0o777), Link: "a.txt"},
	}
	withFiles := func(change func([]cache.File) []cache.File) []cache.File {
		f := append([]cache.File(nil), files...)
		return change(f)
	}
	cp := func(f []cache.File) *cache.Entry { return entry("COPY src/ /dst/", copyIn(nil), f) }
	base := func(b string) func(*cache.Input) {
		return func(in *cache.Input) {
			in.Base = b
			in.Parent = digest.FromString("base " + b)
		}
	}
	fromStage := func(key string) *cache.Entry {
		return entry("COPY --from=build /out /out", copyIn(func(in *cache.Input) {
			in.Sources = []string{"stage build " + digest.FromString(key).String()}
		}), nil)
	}

	tests := []struct {
		name      string
		last, cur *cache.Entry
		want      string
	}{
		{
			name: "first build",
			last: nil, cur: run(nil),
			want: "no earlier build of this step",
		},
		{
			name: "same key: the record is gone",
			last: run(nil), cur: run(nil),
			want: "its cache record is gone (pruned or unreadable)",
		},
		{
			name: "instruction changed",
			last: entry("RUN echo a", runIn(func(in *cache.Input) { in.Args[2] = "echo a" }), nil),
			cur:  entry("RUN echo b", runIn(func(in *cache.Input) { in.Args[2] = "echo b" }), nil),
			want: `instruction changed (was "RUN echo a")`,
		},
		{
			name: "long instruction is shortened on one line",
			last: entry("RUN echo \\\n    "+strings.Repeat("x", 100), runIn(func(in *cache.Input) { in.Args[2] = "x" }), nil),
			cur:  run(nil),
			want: `instruction changed (was "RUN echo \\ ` + strings.Repeat("x", 77-len(`RUN echo \ `)) + `...")`,
		},
		{
			name: "build arg changed",
			last: run(nil),
			cur:  run(func(in *cache.Input) { in.BuildArgs = []string{"V=2"} }),
			want: `build arg V changed: "1" → "2"`,
		},
		{
			name: "build arg set and unset",
			last: run(nil),
			cur:  run(func(in *cache.Input) { in.BuildArgs = []string{"W=w"} }),
			want: `build arg V unset (was "1"), W set to "w"`,
		},
		{
			name: "ENV changed",
			last: run(nil),
			cur:  run(func(in *cache.Input) { in.Env = []string{"PATH=/bin", "X=2"} }),
			want: `ENV X changed: "1" → "2"`,
		},
		{
			name: "ENV added",
			last: run(nil),
			cur:  run(func(in *cache.Input) { in.Env = append(in.Env, "Y=y") }),
			want: `ENV Y set to "y"`,
		},
		{
			name: "USER changed",
			last: run(nil),
			cur:  run(func(in *cache.Input) { in.User = "app" }),
			want: `USER changed: "" → "app"`,
		},
		{
			name: "WORKDIR changed",
			last: run(nil),
			cur:  run(func(in *cache.Input) { in.Workdir = "/app" }),
			want: `WORKDIR changed: "/src" → "/app"`,
		},
		{
			name: "network changed",
			last: run(nil),
			cur:  run(func(in *cache.Input) { in.Network = "none" }),
			want: `network changed: "default" → "none"`,
		},
		{
			name: "platform changed",
			last: run(nil),
			cur:  run(func(in *cache.Input) { in.Platform = "linux/arm64" }),
			want: "platform changed: linux/amd64 → linux/arm64",
		},
		{
			name: "file modified",
			last: cp(files),
			cur:  cp(withFiles(func(f []cache.File) []cache.File { f[2] = regFile("src/b.txt", "B"); return f })),
			want: "files changed: src/b.txt (modified)",
		},
		{
			name: "file added",
			last: cp(files),
			cur:  cp(withFiles(func(f []cache.File) []cache.File { return append(f, regFile("src/c.txt", "c")) })),
			want: "files changed: src/c.txt (added)",
		},
		{
			name: "file removed",
			last: cp(files),
			cur:  cp(withFiles(func(f []cache.File) []cache.File { return append(f[:1], f[2:]...) })),
			want: "files changed: src/a.txt (removed)",
		},
		{
			name: "mode changed",
			last: cp(files),
			cur:  cp(withFiles(func(f []cache.File) []cache.File { f[1].Mode = 0o755; return f })),
			want: "files changed: src/a.txt (mode)",
		},
		{
			name: "symlink target changed",
			last: cp(files),
			cur:  cp(withFiles(func(f []cache.File) []cache.File { f[3].Link = "b.txt"; return f })),
			want: "files changed: src/link (modified)",
		},
		{
			name: "several file changes in list order",
			last: cp(files),
			cur: cp(withFiles(func(f []cache.File) []cache.File {
				f[2] = regFile("src/b.txt", "B")
				return append(f[:1], append(f[2:], regFile("src/c.txt", "c"))...)
			})),
			want: "files changed: src/b.txt (modified), src/c.txt (added), src/a.txt (removed)",
		},
		{
			name: "and N more",
			last: cp(files),
			cur: cp(withFiles(func(f []cache.File) []cache.File {
				for _, n := range []string{"c", "d", "e", "f", "g"} {
					f = append(f, regFile("src/"+n, n))
				}
				return f
			})),
			want: "files changed: src/c (added), src/d (added), src/e (added) and 2 more",
		},
		{
			name: "build args: and N more",
			last: run(nil),
			cur:  run(func(in *cache.Input) { in.BuildArgs = []string{"A=1", "B=1", "C=1", "D=1", "V=1"} }),
			want: `build arg A set to "1", B set to "1", C set to "1" and 1 more`,
		},
		{
			name: "file digest differs but the lists do not",
			last: cp(files),
			cur: func() *cache.Entry {
				e := cp(files)
				e.Input.Files = digest.FromString("other")
				e.Key = e.Input.Key()
				return e
			}(),
			want: "source files changed",
		},
		{
			name: "stage rebuilt",
			last: fromStage("old"),
			cur:  fromStage("new"),
			want: "stage build was rebuilt",
		},
		{
			name: "image changed",
			last: entry("COPY --from=tools /x /x", copyIn(func(in *cache.Input) { in.Sources = []string{"image tools sha256:1"} }), nil),
			cur:  entry("COPY --from=tools /x /x", copyIn(func(in *cache.Input) { in.Sources = []string{"image tools sha256:2"} }), nil),
			want: "image tools changed",
		},
		{
			name: "URL content changed",
			last: entry("ADD https://e.test/f /f", copyIn(func(in *cache.Input) { in.Sources = []string{"url https://e.test/f sha256:1"} }), nil),
			cur:  entry("ADD https://e.test/f /f", copyIn(func(in *cache.Input) { in.Sources = []string{"url https://e.test/f sha256:2"} }), nil),
			want: "content of https://e.test/f changed",
		},
		{
			name: "git commit changed",
			last: entry("ADD https://e.test/r.git /r", copyIn(func(in *cache.Input) { in.Sources = []string{"git https://e.test/r.git 1111"} }), nil),
			cur:  entry("ADD https://e.test/r.git /r", copyIn(func(in *cache.Input) { in.Sources = []string{"git https://e.test/r.git 2222"} }), nil),
			want: "git repository https://e.test/r.git is now at commit 2222",
		},
		{
			name: "other source kind",
			last: entry("COPY --from=ctx a /a", copyIn(nil), nil),
			cur:  entry("COPY --from=ctx a /a", copyIn(func(in *cache.Input) { in.Sources = []string{"context ctx"} }), nil),
			want: "context ctx changed",
		},
		{
			name: "source dropped",
			last: entry("COPY --from=ctx a /a", copyIn(func(in *cache.Input) { in.Sources = []string{"context ctx"} }), nil),
			cur:  entry("COPY --from=ctx a /a", copyIn(nil), nil),
			want: "sources changed",
		},
		{
			name: "instruction expands differently",
			last: entry("COPY $F /dst/", copyIn(nil), nil),
			cur:  entry("COPY $F /dst/", copyIn(func(in *cache.Input) { in.Args = []string{"--dest=/dst/", "lib/"} }), nil),
			want: `instruction expands differently (was "--dest=/dst/ src/")`,
		},
		{
			name: "earlier step rebuilt",
			last: run(nil),
			cur:  run(func(in *cache.Input) { in.Parent = digest.FromString("other parent") }),
			want: "an earlier step was rebuilt",
		},
		{
			name: "base image changed",
			last: run(base("busybox@sha256:1")),
			cur:  run(base("busybox@sha256:2")),
			want: "base image changed: busybox@sha256:1 → busybox@sha256:2",
		},
		{
			name: "base changed under the same name",
			last: run(base("stage build")),
			cur: run(func(in *cache.Input) {
				in.Base = "stage build"
				in.Parent = digest.FromString("other stage key")
			}),
			want: "base changed",
		},
		{
			name: "base on one side only",
			last: run(nil),
			cur:  run(base("scratch")),
			want: "an earlier step was rebuilt",
		},
		{
			name: "own reasons before the inherited one",
			last: run(nil),
			cur: run(func(in *cache.Input) {
				in.Parent = digest.FromString("other parent")
				in.BuildArgs = []string{"V=2"}
			}),
			want: `build arg V changed: "1" → "2"; an earlier step was rebuilt`,
		},
		{
			name: "every own reason, in order, then the inherited one",
			last: run(nil),
			cur: entry("RUN make all", runIn(func(in *cache.Input) {
				in.Parent = digest.FromString("other parent")
				in.Args[2] = "make all"
				in.BuildArgs = []string{"V=2"}
				in.Env = []string{"PATH=/bin", "X=2"}
				in.User = "app"
				in.Workdir = "/"
				in.Network = "host"
				in.Platform = "linux/arm64"
			}), nil),
			want: `instruction changed (was "RUN make"); build arg V changed: "1" → "2"; ENV X changed: "1" → "2"; ` +
				`USER changed: "" → "app"; WORKDIR changed: "/src" → "/"; network changed: "default" → "host"; ` +
				`platform changed: linux/amd64 → linux/arm64; an earlier step was rebuilt`,
		},
		{
			name: "files and stage before the inherited one",
			last: fromStage("old"),
			cur: func() *cache.Entry {
				e := fromStage("new")
				e.Input.Parent = digest.FromString("other parent")
				e.Key = e.Input.Key()
				return e
			}(),
			want: "stage build was rebuilt; an earlier step was rebuilt",
		},
		{
			name: "nothing describable",
			last: run(nil),
			cur:  entry("RUN make", runIn(func(in *cache.Input) { in.Op = "ADD" }), nil),
			want: "the step's inputs changed",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := cache.Explain(tc.last, tc.cur); got != tc.want {
				t.Errorf("Explain =\n  %s\nwant\n  %s", got, tc.want)
			}
		})
	}
}

// TestExplainOneLine checks that a reason stays on one line whatever the
// values hold.
func TestExplainOneLine(t *testing.T) {
	in := cache.Input{Op: "RUN", BuildArgs: []string{"V=a\nb"}}
	last := entry("RUN echo \\\n  $V", in, nil)
	in.BuildArgs = []string{"V=" + strings.Repeat("long\n", 40)}
	in.Args = []string{"x"}
	cur := entry("RUN echo \\\n  $V\n", in, nil)
	got := cache.Explain(last, cur)
	if strings.Contains(got, "\n") {
		t.Errorf("Explain = %q, spans lines", got)
	}
	if len(got) > 300 {
		t.Errorf("Explain gives %d bytes: %s", len(got), got)
	}
}
