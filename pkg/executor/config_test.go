package executor_test

import (
	"context"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"

	"github.com/ocibuilder/builder/internal/testutil"
)

func TestConfigInstructions(t *testing.T) {
	base := testutil.BaseLayout(t)
	r := build(t, spec{
		dockerfile: `ARG G=global
ARG UNDECLARED=u
FROM base
ARG G
ARG D=def
ARG O=def
ARG ONLYARG=1
ARG CHAIN=${D}-chained
ENV X=old
ENV X=new Y=$X
ENV Z=$X
ENV LEGACY value with spaces
ENV G=$G D=$D O=$O N=${UNDECLARED:-unset} CHAIN=$CHAIN
LABEL a=b "c d"="e f"
LABEL a=over version=$X
EXPOSE 80 53/udp 8000-8002/tcp
VOLUME ["/data", "/logs"]
VOLUME /cache
USER app:staff
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=5s --timeout=3s --retries=2 CMD curl -f http://localhost/
SHELL ["/bin/bash", "-c"]
CMD echo $HOME
ONBUILD RUN make
ONBUILD COPY . /src
MAINTAINER someone
`,
		base:      base,
		buildArgs: map[string]string{"O": "over"},
	})
	c := r.img.Config
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"env", c.Config.Env, []string{
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"X=new", "Y=old", "Z=new", "LEGACY=value with spaces",
			"G=global", "D=def", "O=over", "N=unset", "CHAIN=def-chained",
		}},
		{"labels", c.Config.Labels, map[string]string{"a": "over", "c d": "e f", "version": "new"}},
		{"exposed ports", slices.Sorted(maps.Keys(c.Config.ExposedPorts)),
			[]string{"53/udp", "80/tcp", "8000/tcp", "8001/tcp", "8002/tcp"}},
		{"volumes", slices.Sorted(maps.Keys(c.Config.Volumes)), []string{"/cache", "/data", "/logs"}},
		{"user", c.Config.User, "app:staff"},
		{"stop signal", c.Config.StopSignal, "SIGQUIT"},
		{"healthcheck", *c.Config.Healthcheck, dockerspec.HealthcheckConfig{
			Test:     []string{"CMD-SHELL", "curl -f http://localhost/"},
			Interval: 5 * time.Second, Timeout: 3 * time.Second, Retries: 2,
		}},
		{"shell", c.Config.Shell, []string{"/bin/bash", "-c"}},
		{"cmd through SHELL", c.Config.Cmd, []string{"/bin/bash", "-c", "echo $HOME"}},
		{"onbuild", c.Config.OnBuild, []string{"RUN make", "COPY . /src"}},
		{"author", c.Author, "someone"},
		{"os", c.OS, "linux"},
		{"architecture", c.Architecture, runtime.GOARCH},
		{"layers", len(r.img.Layers), 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !equalJSON(tc.got, tc.want) {
				t.Errorf("got %#v, want %#v", tc.got, tc.want)
			}
		})
	}
}

// TestScratchConfig: the config of an image built FROM scratch starts as
// BuildKit's empty image does (dockerfile2llb's emptyImage): "/" as working
// directory and docker's default PATH, for stages built on it too.
func TestScratchConfig(t *testing.T) {
	for _, df := range []string{
		"FROM scratch\nCOPY a.txt /a\n",
		"FROM scratch AS s\nFROM s\nCOPY a.txt /a\n",
	} {
		r := build(t, spec{dockerfile: df, context: []testutil.Entry{file("a.txt", "A")}})
		c := r.img.Config
		if c.Config.WorkingDir != "/" {
			t.Errorf("%q: WorkingDir %q, want \"/\"", df, c.Config.WorkingDir)
		}
		if want := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}; !slices.Equal(c.Config.Env, want) {
			t.Errorf("%q: Env %q, want %q", df, c.Config.Env, want)
		}
		if c.OS != "linux" || c.Architecture != runtime.GOARCH || c.RootFS.Type != "layers" {
			t.Errorf("%q: os %q, architecture %q, rootfs type %q", df, c.OS, c.Architecture, c.RootFS.Type)
		}
	}
}

func TestShellForms(t *testing.T) {
	tests := []struct {
		name           string
		df             string
		cmd, entry     []string
		inheritedShell bool
	}{
		{"exec form", "CMD [\"/app\", \"-v\"]\n", []string{"/app", "-v"}, nil, false},
		{"shell form", "CMD /app -v\n", []string{"/bin/sh", "-c", "/app -v"}, nil, false},
		{"entrypoint shell form", "ENTRYPOINT /app -v\n", nil, []string{"/bin/sh", "-c", "/app -v"}, false},
		{"SHELL applies to later lines only", "CMD a\nSHELL [\"/bin/ash\", \"-eo\", \"pipefail\", \"-c\"]\nENTRYPOINT b\n",
			[]string{"/bin/sh", "-c", "a"}, []string{"/bin/ash", "-eo", "pipefail", "-c", "b"}, false},
		{"SHELL of the parent stage", "ENTRYPOINT e\n", nil, []string{"/bin/zsh", "-c", "e"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			df := "FROM scratch\n" + tc.df
			if tc.inheritedShell {
				df = "FROM scratch AS p\nSHELL [\"/bin/zsh\", \"-c\"]\nFROM p\n" + tc.df
			}
			r := build(t, spec{dockerfile: df, noContext: true})
			if got := r.img.Config.Config.Cmd; !slices.Equal(got, tc.cmd) {
				t.Errorf("Cmd %q, want %q", got, tc.cmd)
			}
			if got := r.img.Config.Config.Entrypoint; !slices.Equal(got, tc.entry) {
				t.Errorf("Entrypoint %q, want %q", got, tc.entry)
			}
		})
	}
}

func TestEntrypointResetsInheritedCmd(t *testing.T) {
	base := testutil.BaseLayout(t)
	tests := []struct {
		name string
		df   string
		cmd  []string
	}{
		{"inherited CMD kept without ENTRYPOINT", "FROM base\nENV A=1\n", []string{"/bin/sh"}},
		{"ENTRYPOINT resets the base's CMD", "FROM base\nENTRYPOINT [\"/e\"]\n", nil},
		{"CMD before ENTRYPOINT in the stage is kept", "FROM base\nCMD [\"c\"]\nENTRYPOINT [\"/e\"]\n", []string{"c"}},
		{"CMD after ENTRYPOINT", "FROM base\nENTRYPOINT [\"/e\"]\nCMD [\"c\"]\n", []string{"c"}},
		{"ENTRYPOINT resets the parent stage's CMD", "FROM base AS p\nCMD [\"c\"]\nFROM p\nENTRYPOINT [\"/e\"]\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := build(t, spec{dockerfile: tc.df, base: base, noContext: true})
			if got := r.img.Config.Config.Cmd; !slices.Equal(got, tc.cmd) {
				t.Errorf("Cmd %q, want %q", got, tc.cmd)
			}
		})
	}
}

func TestArgs(t *testing.T) {
	tests := []struct {
		name string
		df   string
		args map[string]string
		env  string // value of V in the image
	}{
		{"default", "FROM scratch\nARG A=def\nENV V=$A\n", nil, "def"},
		{"override", "FROM scratch\nARG A=def\nENV V=$A\n", map[string]string{"A": "over"}, "over"},
		{"no default and no value", "FROM scratch\nARG A\nENV V=x${A}x\n", nil, "xx"},
		{"global needs re-declaring", "ARG A=glob\nFROM scratch\nENV V=x${A}x\n", nil, "xx"},
		{"global re-declared", "ARG A=glob\nFROM scratch\nARG A\nENV V=$A\n", nil, "glob"},
		{"global re-declared with override", "ARG A=glob\nFROM scratch\nARG A\nENV V=$A\n", map[string]string{"A": "over"}, "over"},
		{"stage default beats global", "ARG A=glob\nFROM scratch\nARG A=stage\nENV V=$A\n", nil, "stage"},
		{"ENV beats ARG", "FROM scratch\nARG A=arg\nENV A=env\nENV V=$A\n", map[string]string{"A": "over"}, "env"},
		{"defaults see earlier args", "FROM scratch\nARG A=1 B=${A}2\nENV V=$B\n", nil, "12"},
		{"re-declared without a value keeps it", "FROM scratch\nARG A=1\nARG A\nENV V=$A\n", nil, "1"},
		// As in BuildKit (moby/buildkit#5381), a stage built FROM
		// another starts with its ARGs.
		{"args pass to child stages", "FROM scratch AS p\nARG A=p\nFROM p\nENV V=$A\n", nil, "p"},
		{"args pass to grandchild stages", "FROM scratch AS p\nARG A=p\nFROM p AS c\nFROM c\nENV V=$A\n", nil, "p"},
		{"passed with the build arg's value", "FROM scratch AS p\nARG A=p\nFROM p\nENV V=$A\n", map[string]string{"A": "over"}, "over"},
		{"passed and re-declared", "FROM scratch AS p\nARG A=p\nFROM p\nARG A\nENV V=$A\n", nil, "p"},
		{"passed and re-declared with a default", "FROM scratch AS p\nARG A=p\nFROM p\nARG A=c\nENV V=$A\n", nil, "c"},
		{"passed and re-declared with a global", "ARG A=glob\nFROM scratch AS p\nARG A=p\nFROM p\nARG A\nENV V=$A\n", nil, "glob"},
		{"args do not cross to unrelated stages", "FROM scratch AS p\nARG A=p\nFROM scratch\nENV V=x${A}x\n", nil, "xx"},
		{"predefined platform args", "FROM scratch\nARG TARGETOS\nENV V=$TARGETOS\n", nil, "linux"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := build(t, spec{dockerfile: tc.df, buildArgs: tc.args, noContext: true})
			var got []string
			for _, kv := range r.img.Config.Config.Env {
				k, v, _ := strings.Cut(kv, "=")
				if k == "V" {
					got = append(got, v)
				}
				if k != "V" && k != "PATH" && k != "A" {
					t.Errorf("image Env holds %q: ARG values must not persist", kv)
				}
			}
			if len(got) != 1 || got[0] != tc.env {
				t.Errorf("V = %q, want %q", got, tc.env)
			}
		})
	}
}

func TestWorkdir(t *testing.T) {
	base := testutil.BaseLayout(t, testutil.Entry{Path: "data", Dir: true, UID: 33, GID: 33, Mode: 0o700})
	tests := []struct {
		name     string
		df       string
		wd       string
		layers   int    // new layers on top of the base
		dir      string // checked when set
		uid, gid uint32
	}{
		{"relative to the previous one", "WORKDIR /a\nWORKDIR b\nWORKDIR ../c/./d\n", "/a/c/d", 3, "/a/c/d", 0, 0},
		{"relative to the root", "WORKDIR rel\n", "/rel", 1, "/rel", 0, 0},
		{"expanded", "ENV D=/env\nWORKDIR $D/x\n", "/env/x", 1, "/env/x", 0, 0},
		{"created owned by USER", "USER app\nWORKDIR /home/app\n", "/home/app", 1, "/home/app", 1000, 1000},
		{"created owned by USER with group", "USER www:staff\nWORKDIR /w\n", "/w", 1, "/w", 33, 50},
		{"numeric USER", "USER 4321\nWORKDIR /w\n", "/w", 1, "/w", 4321, 4321},
		{"existing directory adds no layer", "WORKDIR /opt/app\n", "/opt/app", 0, "", 0, 0},
		{"existing directory keeps its owner", "USER app\nWORKDIR /data\n", "/data", 0, "/data", 33, 33},
		{"existing directory through a symlink", "WORKDIR /usr/local/app\n", "/usr/local/app", 0, "", 0, 0},
		{"the same directory twice", "WORKDIR /x\nWORKDIR /x\n", "/x", 1, "/x", 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := build(t, spec{dockerfile: "FROM base\n" + tc.df, base: base, noContext: true})
			if got := r.img.Config.Config.WorkingDir; got != tc.wd {
				t.Errorf("WorkingDir %q, want %q", got, tc.wd)
			}
			if got := len(r.img.Layers) - 1; got != tc.layers {
				t.Errorf("%d new layers, want %d", got, tc.layers)
			}
			if tc.dir != "" {
				if !r.lstat(t, tc.dir).IsDir() {
					t.Fatalf("%s is not a directory", tc.dir)
				}
				if uid, gid := r.owner(t, tc.dir); uid != tc.uid || gid != tc.gid {
					t.Errorf("%s owned by %d:%d, want %d:%d", tc.dir, uid, gid, tc.uid, tc.gid)
				}
			}
			if r.lstat(t, "/usr/local/app").Mode()&os.ModeSymlink == 0 {
				t.Error("/usr/local/app is no longer a symlink")
			}
		})
	}
}

func TestHistory(t *testing.T) {
	base := testutil.BaseLayout(t)
	r := build(t, spec{
		dockerfile: "FROM base\nENV A=1\nCOPY a.txt /a\nWORKDIR /opt/app\nWORKDIR /new\nLABEL x=y\nCOPY a.txt /a\nCOPY b.txt /b\nUSER app\n",
		base:       base,
		context:    []testutil.Entry{file("a.txt", "A"), file("b.txt", "B")},
	})
	type entry struct {
		by    string
		empty bool
	}
	want := []entry{
		{"test base", false},
		{"ENV A=1", true},
		{"COPY a.txt /a", false},
		{"WORKDIR /opt/app", true},
		{"WORKDIR /new", false},
		{"LABEL x=y", true},
		{"COPY a.txt /a", false},
		{"COPY b.txt /b", false},
		{"USER app", true},
	}
	h := r.img.Config.History
	if len(h) != len(want) {
		t.Fatalf("history has %d entries, want %d: %+v", len(h), len(want), h)
	}
	for i, w := range want {
		if h[i].CreatedBy != w.by || h[i].EmptyLayer != w.empty {
			t.Errorf("history[%d] = {%q, empty %v}, want {%q, empty %v}", i, h[i].CreatedBy, h[i].EmptyLayer, w.by, w.empty)
		}
		if h[i].Created == nil {
			t.Errorf("history[%d] has no created time", i)
		}
	}
	if n := len(r.img.Layers); n != 5 {
		t.Errorf("image has %d layers, want 5", n)
	}
}

func TestLabelsOption(t *testing.T) {
	r := build(t, spec{
		dockerfile: "FROM scratch AS other\nLABEL o=1\nFROM scratch\nLABEL a=orig b=keep\n",
		labels:     map[string]string{"a": "override", "new": "x"},
		noContext:  true,
	})
	want := map[string]string{"a": "override", "b": "keep", "new": "x"}
	if got := r.img.Config.Config.Labels; !maps.Equal(got, want) {
		t.Errorf("labels %v, want %v", got, want)
	}
	t.Run("on an image without labels", func(t *testing.T) {
		r := build(t, spec{dockerfile: "FROM scratch\n", labels: map[string]string{"k": "v"}, noContext: true})
		if got := r.img.Config.Config.Labels; !maps.Equal(got, map[string]string{"k": "v"}) {
			t.Errorf("labels %v", got)
		}
	})
}

func TestSourceDateEpoch(t *testing.T) {
	base := testutil.BaseLayout(t)
	epoch := time.Date(2022, 1, 2, 3, 4, 5, 0, time.UTC)
	df := "FROM base\nCOPY . /src/\nWORKDIR /made/here\nCOPY <<EOF /etc/note\nnote\nEOF\nENV A=1\nLABEL l=1\n"
	ctxEntries := []testutil.Entry{file("a.txt", "A"), file("d/b.txt", "B")}

	// Two contexts with the same content but different mtimes, both
	// later than the epoch.
	digestOf := func(t *testing.T, epoch *time.Time, mtime time.Time) (digest.Digest, *result) {
		t.Helper()
		dir := t.TempDir()
		testutil.WriteTree(t, dir, ctxEntries...)
		testutil.SetTreeTimes(t, dir, mtime)
		r := build(t, spec{dockerfile: df, base: base, contextDir: dir, epoch: epoch})
		desc, _, err := r.img.Manifest(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return desc.Digest, r
	}
	now := time.Now()
	d1, r1 := digestOf(t, &epoch, now)
	d2, _ := digestOf(t, &epoch, now.Add(time.Hour))
	if d1 != d2 {
		t.Errorf("builds with SOURCE_DATE_EPOCH differ: %s vs %s", d1, d2)
	}
	if c := r1.img.Config.Created; c == nil || !c.Equal(epoch) {
		t.Errorf("config created %v, want %v", c, epoch)
	}
	for i, h := range r1.img.Config.History[1:] {
		if h.Created == nil || !h.Created.Equal(epoch) {
			t.Errorf("history[%d] created %v, want %v", i+1, h.Created, epoch)
		}
	}
	for _, p := range []string{"/src/a.txt", "/src/d", "/made/here", "/etc/note"} {
		if mt := r1.lstat(t, p).ModTime(); mt.After(epoch) {
			t.Errorf("%s has mtime %v after the epoch", p, mt)
		}
	}
	// The same inputs without an epoch do differ, so the check above
	// means something.
	d3, _ := digestOf(t, nil, now)
	d4, _ := digestOf(t, nil, now.Add(time.Hour))
	if d3 == d4 {
		t.Error("builds without SOURCE_DATE_EPOCH of different contexts are equal")
	}
}
