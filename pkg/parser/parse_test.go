package parser

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

func TestParseInstructions(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, cmd instructions.Command)
	}{
		{name: "run shell form", body: "RUN echo $HOME && ls\n", check: func(t *testing.T, c instructions.Command) {
			r := c.(*instructions.RunCommand)
			eq(t, r.CmdLine, []string{"echo $HOME && ls"})
			eq(t, r.PrependShell, true)
		}},
		{name: "run exec form", body: `RUN ["echo", "$HOME"]` + "\n", check: func(t *testing.T, c instructions.Command) {
			r := c.(*instructions.RunCommand)
			eq(t, r.CmdLine, []string{"echo", "$HOME"})
			eq(t, r.PrependShell, false)
		}},
		{name: "run malformed json falls back to shell form", body: `RUN ["echo", ` + "\n", check: func(t *testing.T, c instructions.Command) {
			r := c.(*instructions.RunCommand)
			eq(t, r.CmdLine, []string{`["echo",`})
			eq(t, r.PrependShell, true)
		}},
		{name: "run flags", body: "RUN --mount=type=cache,target=/root/.cache --network=none go build\n", check: func(t *testing.T, c instructions.Command) {
			r := c.(*instructions.RunCommand)
			used := slices.Clone(r.FlagsUsed)
			slices.Sort(used) // BuildKit reports them in map order
			eq(t, used, []string{"mount", "network"})
			eq(t, instructions.GetNetwork(r), instructions.NetworkNone)
			eq(t, len(instructions.GetMounts(r)), 1)
		}},
		{name: "cmd shell form", body: "CMD echo hi\n", check: func(t *testing.T, c instructions.Command) {
			r := c.(*instructions.CmdCommand)
			eq(t, r.CmdLine, []string{"echo hi"})
			eq(t, r.PrependShell, true)
		}},
		{name: "entrypoint exec form", body: `ENTRYPOINT ["/bin/app", "-v"]` + "\n", check: func(t *testing.T, c instructions.Command) {
			r := c.(*instructions.EntrypointCommand)
			eq(t, r.CmdLine, []string{"/bin/app", "-v"})
			eq(t, r.PrependShell, false)
		}},
		{name: "env equals syntax", body: `ENV A=1 B="two words" C=three\ words` + "\n", check: func(t *testing.T, c instructions.Command) {
			r := c.(*instructions.EnvCommand)
			eq(t, r.Env, instructions.KeyValuePairs{{Key: "A", Value: "1"}, {Key: "B", Value: `"two words"`}, {Key: "C", Value: `three\ words`}})
		}},
		{name: "env legacy space syntax", body: "ENV GREETING hello   world\n", check: func(t *testing.T, c instructions.Command) {
			r := c.(*instructions.EnvCommand)
			eq(t, r.Env, instructions.KeyValuePairs{{Key: "GREETING", Value: "hello   world", NoDelim: true}})
		}},
		{name: "arg with and without default", body: "ARG A B=2 C=\n", check: func(t *testing.T, c instructions.Command) {
			r := c.(*instructions.ArgCommand)
			eq(t, len(r.Args), 3)
			eq(t, r.Args[0].Value, (*string)(nil))
			eq(t, *r.Args[1].Value, "2")
			eq(t, *r.Args[2].Value, "")
		}},
		{name: "label", body: `LABEL a=b "c d"="e f"` + "\n", check: func(t *testing.T, c instructions.Command) {
			r := c.(*instructions.LabelCommand)
			eq(t, r.Labels, instructions.KeyValuePairs{{Key: "a", Value: "b"}, {Key: `"c d"`, Value: `"e f"`}})
		}},
		{name: "expose sorted", body: "EXPOSE 8080/udp 80\n", check: func(t *testing.T, c instructions.Command) {
			eq(t, c.(*instructions.ExposeCommand).Ports, []string{"80", "8080/udp"})
		}},
		{name: "volume json", body: `VOLUME ["/a", "/b"]` + "\n", check: func(t *testing.T, c instructions.Command) {
			eq(t, c.(*instructions.VolumeCommand).Volumes, []string{"/a", "/b"})
		}},
		{name: "volume shell", body: "VOLUME /a /b\n", check: func(t *testing.T, c instructions.Command) {
			eq(t, c.(*instructions.VolumeCommand).Volumes, []string{"/a", "/b"})
		}},
		{name: "user", body: "USER app:staff\n", check: func(t *testing.T, c instructions.Command) {
			eq(t, c.(*instructions.UserCommand).User, "app:staff")
		}},
		{name: "workdir", body: "WORKDIR /src/$APP\n", check: func(t *testing.T, c instructions.Command) {
			eq(t, c.(*instructions.WorkdirCommand).Path, "/src/$APP")
		}},
		{name: "stopsignal", body: "STOPSIGNAL SIGQUIT\n", check: func(t *testing.T, c instructions.Command) {
			eq(t, c.(*instructions.StopSignalCommand).Signal, "SIGQUIT")
		}},
		{name: "healthcheck cmd", body: "HEALTHCHECK --interval=5s --timeout=2s --start-period=1s --retries=4 CMD curl -f http://localhost/\n", check: func(t *testing.T, c instructions.Command) {
			h := c.(*instructions.HealthCheckCommand).Health
			eq(t, h.Test, []string{"CMD-SHELL", "curl -f http://localhost/"})
			eq(t, h.Interval, 5*time.Second)
			eq(t, h.Timeout, 2*time.Second)
			eq(t, h.StartPeriod, time.Second)
			eq(t, h.Retries, 4)
		}},
		{name: "healthcheck exec", body: `HEALTHCHECK CMD ["/bin/check"]` + "\n", check: func(t *testing.T, c instructions.Command) {
			eq(t, c.(*instructions.HealthCheckCommand).Health.Test, []string{"CMD", "/bin/check"})
		}},
		{name: "healthcheck none", body: "HEALTHCHECK NONE\n", check: func(t *testing.T, c instructions.Command) {
			eq(t, c.(*instructions.HealthCheckCommand).Health.Test, []string{"NONE"})
		}},
		{name: "shell", body: `SHELL ["/bin/bash", "-euo", "pipefail", "-c"]` + "\n", check: func(t *testing.T, c instructions.Command) {
			eq(t, c.(*instructions.ShellCommand).Shell, []string{"/bin/bash", "-euo", "pipefail", "-c"})
		}},
		{name: "onbuild", body: "ONBUILD COPY . /app\n", check: func(t *testing.T, c instructions.Command) {
			eq(t, c.(*instructions.OnbuildCommand).Expression, "COPY . /app")
		}},
		{name: "maintainer", body: "MAINTAINER Jane <j@example.com>\n", check: func(t *testing.T, c instructions.Command) {
			eq(t, c.(*instructions.MaintainerCommand).Maintainer, "Jane <j@example.com>")
		}},
		{name: "copy flags", body: "COPY --chown=1:2 --chmod=0644 --link --exclude=*.md --parents a b /dst/\n", check: func(t *testing.T, c instructions.Command) {
			r := c.(*instructions.CopyCommand)
			eq(t, r.SourcePaths, []string{"a", "b"})
			eq(t, r.DestPath, "/dst/")
			eq(t, r.Chown, "1:2")
			eq(t, r.Chmod, "0644")
			eq(t, r.Link, true)
			eq(t, r.Parents, true)
			eq(t, r.ExcludePatterns, []string{"*.md"})
		}},
		{name: "copy json form", body: `COPY ["a b", "/d e/"]` + "\n", check: func(t *testing.T, c instructions.Command) {
			r := c.(*instructions.CopyCommand)
			eq(t, r.SourcePaths, []string{"a b"})
			eq(t, r.DestPath, "/d e/")
		}},
		{name: "add flags", body: "ADD --checksum=sha256:abc --keep-git-dir --unpack=false --chown=u https://example.com/x.tgz /x\n", check: func(t *testing.T, c instructions.Command) {
			r := c.(*instructions.AddCommand)
			eq(t, r.Checksum, "sha256:abc")
			eq(t, *r.KeepGitDir, true)
			eq(t, *r.Unpack, false)
			eq(t, r.Chown, "u")
			eq(t, r.SourcePaths, []string{"https://example.com/x.tgz"})
		}},
		{name: "lower case instruction", body: "run echo hi\n", check: func(t *testing.T, c instructions.Command) {
			eq(t, c.(*instructions.RunCommand).CmdLine, []string{"echo hi"})
		}},
		{name: "continuation lines", body: "RUN echo a \\\n    b \\\n    c\n", check: func(t *testing.T, c instructions.Command) {
			eq(t, c.(*instructions.RunCommand).CmdLine, []string{"echo a     b     c"})
		}},
		{name: "comment inside continuation", body: "RUN echo a \\\n# not part of it\n  b\n", check: func(t *testing.T, c instructions.Command) {
			eq(t, c.(*instructions.RunCommand).CmdLine, []string{"echo a   b"})
		}},
		{name: "run heredoc", body: "RUN <<EOF\necho one\necho two\nEOF\n", check: func(t *testing.T, c instructions.Command) {
			r := c.(*instructions.RunCommand)
			eq(t, r.CmdLine, []string{"<<EOF"})
			eq(t, r.Files, []instructions.ShellInlineFile{{Name: "EOF", Data: "echo one\necho two\n"}})
		}},
		{name: "run heredoc chomp", body: "RUN <<-EOT bash\n\techo x\n\tEOT\n", check: func(t *testing.T, c instructions.Command) {
			r := c.(*instructions.RunCommand)
			eq(t, r.CmdLine, []string{"<<-EOT bash"})
			eq(t, r.Files, []instructions.ShellInlineFile{{Name: "EOT", Data: "\techo x\n", Chomp: true}})
		}},
		{name: "copy heredoc", body: "COPY <<EOF /etc/motd\nhello $USER\nEOF\n", check: func(t *testing.T, c instructions.Command) {
			r := c.(*instructions.CopyCommand)
			eq(t, r.DestPath, "/etc/motd")
			eq(t, r.SourceContents, []instructions.SourceContent{{Path: "EOF", Data: "hello $USER\n", Expand: true}})
		}},
		{name: "copy quoted heredoc does not expand", body: "COPY <<'EOF' /f\n$X\nEOF\n", check: func(t *testing.T, c instructions.Command) {
			r := c.(*instructions.CopyCommand)
			eq(t, r.SourceContents, []instructions.SourceContent{{Path: "EOF", Data: "$X\n", Expand: false}})
		}},
		{name: "two heredocs", body: "COPY <<A <<B /dir/\na\nA\nb\nB\n", check: func(t *testing.T, c instructions.Command) {
			r := c.(*instructions.CopyCommand)
			eq(t, r.SourceContents, []instructions.SourceContent{{Path: "A", Data: "a\n", Expand: true}, {Path: "B", Data: "b\n", Expand: true}})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := onlyStep(t, tt.body)
			tt.check(t, st.Cmd)
		})
	}
}

func eq(t *testing.T, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
}

func TestStepLocationsAndText(t *testing.T) {
	df := "FROM base\n" + // 1
		"\n" + // 2
		"RUN a \\\n" + // 3
		"  b\n" + // 4
		"COPY <<EOF /x\n" + // 5
		"body\n" + // 6
		"EOF\n" + // 7
		"# comment\n" + // 8
		"USER me\n" // 9
	g := mustParse(t, df, Options{Filename: "build/Containerfile"})
	tests := []struct {
		line, end int
		text      string
	}{
		{3, 4, "RUN a   b"},
		{5, 7, "COPY <<EOF /x"},
		{9, 9, "USER me"},
	}
	steps := g.Stages[0].Steps
	if len(steps) != len(tests) {
		t.Fatalf("got %d steps, want %d", len(steps), len(tests))
	}
	for i, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			st := steps[i]
			eq(t, st.Loc, Location{File: "build/Containerfile", Line: tt.line, EndLine: tt.end})
			eq(t, st.Text, tt.text)
			eq(t, st.Index, i)
			eq(t, st.Stage, g.Stages[0])
		})
	}
	eq(t, g.Stages[0].Loc.String(), "build/Containerfile:1")
}

func TestDirectives(t *testing.T) {
	tests := []struct {
		name       string
		df         string
		wantEscape rune
		wantSyntax string
		check      func(t *testing.T, g *Graph)
	}{
		{
			name:       "defaults",
			df:         "FROM a\n",
			wantEscape: '\\',
		},
		{
			name:       "syntax recorded",
			df:         "# syntax=docker/dockerfile:1.7\nFROM a\n",
			wantEscape: '\\',
			wantSyntax: "docker/dockerfile:1.7",
		},
		{
			name:       "backtick escape continues lines and keeps backslashes",
			df:         "# escape=`\nFROM a\nRUN dir C:\\Windows `\n  /w\n",
			wantEscape: '`',
			check: func(t *testing.T, g *Graph) {
				st := g.Stages[0].Steps[0]
				eq(t, st.Cmd.(*instructions.RunCommand).CmdLine, []string{`dir C:\Windows   /w`})
				eq(t, st.Loc.Line, 3)
				eq(t, st.Loc.EndLine, 4)
			},
		},
		{
			name:       "backslash does not continue under backtick escape",
			df:         "# escape=`\nFROM a\nRUN echo \\\nUSER x\n",
			wantEscape: '`',
			check: func(t *testing.T, g *Graph) {
				eq(t, len(g.Stages[0].Steps), 2)
			},
		},
		{
			name:       "directive after a comment is a comment",
			df:         "# hello\n# escape=`\nFROM a\n",
			wantEscape: '\\',
		},
		{
			name:       "both directives, case insensitive key",
			df:         "# ESCAPE=`\n# syntax=x/y\nFROM a\n",
			wantEscape: '`',
			wantSyntax: "x/y",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := mustParse(t, tt.df, Options{})
			eq(t, g.Escape, tt.wantEscape)
			eq(t, g.Syntax, tt.wantSyntax)
			if tt.check != nil {
				tt.check(t, g)
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name string
		df   string
		opts Options
		want []string
	}{
		{
			name: "lint findings in file order",
			df:   "FROM a AS Build\nMAINTAINER me\n",
			want: []string{
				"Dockerfile:1: StageNameCasing: Stage name 'Build' should be lowercase",
				"Dockerfile:2: MaintainerDeprecated: Maintainer instruction is deprecated in favor of using label",
			},
		},
		{
			name: "check directive skips rules",
			df:   "# check=skip=MaintainerDeprecated\nFROM a\nMAINTAINER me\n",
		},
		{
			name: "check comment on one instruction",
			df:   "FROM a\n# check=skip=all\nMAINTAINER me\nMAINTAINER you\n",
			want: []string{"Dockerfile:4: MaintainerDeprecated: Maintainer instruction is deprecated in favor of using label"},
		},
		{
			name: "empty continuation line",
			df:   "FROM a\nRUN a \\\n\n  b\n",
			want: []string{"Dockerfile:4: NoEmptyContinuation: Empty continuation line"},
		},
		{
			name: "reserved stage name",
			df:   "FROM a AS context\n",
			want: []string{`Dockerfile:1: ReservedStageName: Stage name should not use the same name as reserved stage "context"`},
		},
		{
			name: "unused build args sorted, declared and implicit ones not reported",
			df:   "ARG G\nFROM a AS unused\nARG U\nFROM a\nARG S\n",
			opts: Options{BuildArgs: map[string]string{"Z": "1", "G": "1", "S": "1", "U": "1", "HTTP_PROXY": "p", "TARGETARCH": "x", "B": "2"}},
			want: []string{
				"Dockerfile: build arg B was not consumed",
				"Dockerfile: build arg U was not consumed",
				"Dockerfile: build arg Z was not consumed",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := mustParse(t, tt.df, tt.opts)
			var got []string
			for _, w := range g.Warnings {
				got = append(got, w.String())
			}
			eq(t, got, tt.want)
		})
	}
}

// TestCmdIsNotShared guards the promise that Expand works on a copy.
func TestCmdIsNotShared(t *testing.T) {
	st := onlyStep(t, "ENV A=$X\n")
	for range 2 {
		cmd, err := st.Expand(mapEnv{"X": "1"})
		if err != nil {
			t.Fatal(err)
		}
		eq(t, cmd.(*instructions.EnvCommand).Env[0].Value, "1")
	}
	eq(t, st.Cmd.(*instructions.EnvCommand).Env[0].Value, "$X")
}
