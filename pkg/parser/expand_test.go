package parser

import (
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

var testEnv = mapEnv{"a": "A", "g": "G", "empty": "", "sp": "x y", "port": "8080 9090/udp", "sig": "SIGKILL", "dir": "/cache"}

func envValue(c instructions.Command) any { return c.(*instructions.EnvCommand).Env[0].Value }
func runLine(c instructions.Command) any  { return c.(*instructions.RunCommand).CmdLine }

func TestExpandWords(t *testing.T) {
	tests := []struct {
		name string
		line string
		want string
	}{
		{"plain", "$a", "A"},
		{"braces", "${a}", "A"},
		{"adjacent text", "x${a}y$a.z", "xAyA.z"},
		{"default when set", "${a:-b}", "A"},
		{"default when unset", "${nope:-b}", "b"},
		{"default when empty", "${empty:-b}", "b"},
		{"dash default keeps empty", "${empty-b}", ""},
		{"dash default when unset", "${nope-b}", "b"},
		{"alternative when set", "${a:+b}", "b"},
		{"alternative when unset", "${nope:+b}", ""},
		{"alternative when empty", "${empty:+b}", ""},
		{"nested default", "${nope:-${a}}", "A"},
		{"escaped dollar", `\$a`, "$a"},
		{"escaped braces", `\${a}`, "${a}"},
		{"single quotes block expansion", "'$a'", "$a"},
		{"double quotes allow expansion", `"$a"`, "A"},
		{"unset is empty", "x${nope}y", "xy"},
		{"value with space", "$sp", "x y"},
		{"prefix removal", "${dir#/}", "cache"},
		{"suffix removal", "${dir%che}", "/ca"},
		{"lone dollar", "a$", "a$"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := onlyStep(t, "ENV X="+tt.line+"\n")
			cmd, err := st.Expand(testEnv)
			if err != nil {
				t.Fatal(err)
			}
			eq(t, envValue(cmd), tt.want)
		})
	}
}

func TestExpandBacktickEscape(t *testing.T) {
	tests := []struct {
		name string
		line string
		want string
	}{
		{"backtick escapes dollar", "`$a", "$a"},
		{"backslash is literal", `C:\$a`, `C:\A`},
		{"plain expansion", "${a}", "A"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := mustParse(t, "# escape=`\nFROM a\nWORKDIR "+tt.line+"\n", Options{})
			cmd, err := g.Stages[0].Steps[0].Expand(testEnv)
			if err != nil {
				t.Fatal(err)
			}
			eq(t, cmd.(*instructions.WorkdirCommand).Path, tt.want)
		})
	}
}

// TestExpandPerInstruction pins which words BuildKit expands for each
// instruction.
func TestExpandPerInstruction(t *testing.T) {
	tests := []struct {
		name string
		body string
		get  func(instructions.Command) any
		want any
	}{
		{"run command line never", "RUN echo $a ${a}\n", runLine, []string{"echo $a ${a}"}},
		{"run exec form never", `RUN ["echo", "$a"]` + "\n", runLine, []string{"echo", "$a"}},
		{"run mount options", "RUN --mount=type=cache,target=$dir,id=c$a echo\n", func(c instructions.Command) any {
			m := instructions.GetMounts(c.(*instructions.RunCommand))[0]
			return m.Target + " " + m.CacheID
		}, "/cache cA"},
		{"run heredoc body never", "RUN <<EOF\necho $a\nEOF\n", func(c instructions.Command) any {
			return c.(*instructions.RunCommand).Files[0].Data
		}, "echo $a\n"},
		{"cmd never", "CMD echo $a\n", func(c instructions.Command) any { return c.(*instructions.CmdCommand).CmdLine }, []string{"echo $a"}},
		{"entrypoint never", `ENTRYPOINT ["$a"]` + "\n", func(c instructions.Command) any { return c.(*instructions.EntrypointCommand).CmdLine }, []string{"$a"}},
		{"shell never", `SHELL ["$a", "-c"]` + "\n", func(c instructions.Command) any { return c.(*instructions.ShellCommand).Shell }, []string{"$a", "-c"}},
		{"healthcheck never", "HEALTHCHECK CMD check $a\n", func(c instructions.Command) any {
			return c.(*instructions.HealthCheckCommand).Health.Test
		}, []string{"CMD-SHELL", "check $a"}},
		{"onbuild never", "ONBUILD RUN echo $a\n", func(c instructions.Command) any { return c.(*instructions.OnbuildCommand).Expression }, "RUN echo $a"},
		{"maintainer never", "MAINTAINER $a\n", func(c instructions.Command) any { return c.(*instructions.MaintainerCommand).Maintainer }, "$a"},
		{"env key and value", "ENV $a=${g}x\n", func(c instructions.Command) any {
			kv := c.(*instructions.EnvCommand).Env[0]
			return kv.Key + "=" + kv.Value
		}, "A=Gx"},
		{"env legacy form", "ENV K $a   $g\n", envValue, "A   G"},
		{"label key and value", `LABEL "l.$a"="$sp" x=$a` + "\n", func(c instructions.Command) any {
			return c.(*instructions.LabelCommand).Labels
		}, instructions.KeyValuePairs{{Key: "l.A", Value: "x y"}, {Key: "x", Value: "A"}}},
		{"workdir", "WORKDIR /src/$a\n", func(c instructions.Command) any { return c.(*instructions.WorkdirCommand).Path }, "/src/A"},
		{"user", "USER $a:${g}\n", func(c instructions.Command) any { return c.(*instructions.UserCommand).User }, "A:G"},
		{"stopsignal", "STOPSIGNAL $sig\n", func(c instructions.Command) any { return c.(*instructions.StopSignalCommand).Signal }, "SIGKILL"},
		{"volume", "VOLUME $dir /v$a\n", func(c instructions.Command) any { return c.(*instructions.VolumeCommand).Volumes }, []string{"/cache", "/vA"}},
		{"volume json", `VOLUME ["$dir"]` + "\n", func(c instructions.Command) any { return c.(*instructions.VolumeCommand).Volumes }, []string{"/cache"}},
		{"expose splits words", "EXPOSE $port 80\n", func(c instructions.Command) any { return c.(*instructions.ExposeCommand).Ports }, []string{"8080", "9090/udp", "80"}},
		{"copy sources, destination, chown, chmod", "COPY --chown=$a:$g --chmod=${m:-644} $a ${g}* /dst/$a/\n", func(c instructions.Command) any {
			r := c.(*instructions.CopyCommand)
			return strings.Join(append(r.SourcePaths, r.DestPath, r.Chown, r.Chmod), " ")
		}, "A G* /dst/A/ A:G 644"},
		{"copy from and exclude stay literal", "COPY --from=img --exclude=$a a b\n", func(c instructions.Command) any {
			r := c.(*instructions.CopyCommand)
			return r.From + " " + strings.Join(r.ExcludePatterns, ",")
		}, "img $a"},
		{"copy json form", `COPY ["$a", "/d/$g"]` + "\n", func(c instructions.Command) any {
			r := c.(*instructions.CopyCommand)
			return append(r.SourcePaths, r.DestPath)
		}, []string{"A", "/d/G"}},
		{"copy heredoc body", "COPY <<EOF /f\nhi $a \\$a \"$g\"\nEOF\n", func(c instructions.Command) any {
			return c.(*instructions.CopyCommand).SourceContents[0].Data
		}, "hi A $a \"G\"\n"},
		{"copy quoted heredoc body never", "COPY <<\"EOF\" /f\nhi $a\nEOF\n", func(c instructions.Command) any {
			return c.(*instructions.CopyCommand).SourceContents[0].Data
		}, "hi $a\n"},
		{"add checksum, chown and paths", "ADD --checksum=sha256:$a --chown=$g https://x/$a.tgz /$g\n", func(c instructions.Command) any {
			r := c.(*instructions.AddCommand)
			return strings.Join([]string{r.Checksum, r.Chown, r.SourcePaths[0], r.DestPath}, " ")
		}, "sha256:A G https://x/A.tgz /G"},
		{"arg keys literal, defaults expanded in order", "ARG $a=1 B=$a C=${B}c\n", func(c instructions.Command) any {
			var out []string
			for _, kv := range c.(*instructions.ArgCommand).Args {
				out = append(out, kv.Key+"="+kv.ValueString())
			}
			return out
		}, []string{"$a=1", "B=A", "C=Ac"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := onlyStep(t, tt.body)
			before := describe(st.Cmd)
			cmd, err := st.Expand(testEnv)
			if err != nil {
				t.Fatal(err)
			}
			eq(t, tt.get(cmd), tt.want)
			eq(t, describe(st.Cmd), before)
		})
	}
}

func TestExpandNilEnv(t *testing.T) {
	st := onlyStep(t, "COPY $a /d${b:-x}\n")
	cmd, err := st.Expand(nil)
	if err != nil {
		t.Fatal(err)
	}
	r := cmd.(*instructions.CopyCommand)
	eq(t, r.SourcePaths, []string{""})
	eq(t, r.DestPath, "/dx")
}

func TestExpandErrors(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string // prefix of the error text
	}{
		{"required variable", "ENV X=${nope:?isrequired}\n", `Dockerfile:3: expanding ENV: failed to process "${nope:?isrequired}": nope: isrequired`},
		{"unterminated brace", "WORKDIR ${a\n", `Dockerfile:3: expanding WORKDIR: failed to process "${a": `},
		{"mount option", "RUN --mount=type=$t true\n", `Dockerfile:3: expanding RUN: unsupported mount type ""`},
		{"expose", "EXPOSE ${p:?}\n", `Dockerfile:3: expanding EXPOSE: failed to process "${p:?}": p: is not allowed to be unset`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := mustParse(t, "FROM a\n\n"+tt.body, Options{})
			_, err := g.Stages[0].Steps[0].Expand(nil)
			if err == nil {
				t.Fatal("Expand succeeded")
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("got %q, want prefix %q", err, tt.want)
			}
		})
	}
}
