package parser

import (
	"runtime"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var (
	arm64 = ocispec.Platform{OS: "linux", Architecture: "arm64"}
	amd64 = ocispec.Platform{OS: "linux", Architecture: "amd64"}
)

func TestFromExpansion(t *testing.T) {
	tests := []struct {
		name         string
		df           string
		opts         Options
		firstStage   bool // check the first stage instead of the last
		wantImage    string
		wantStage    int // index of the From stage, -1 for none
		wantScratch  bool
		wantPlatform string
	}{
		{name: "global args", df: "ARG IMG=alpine\nARG TAG=3.19\nFROM $IMG:${TAG}\n", wantImage: "alpine:3.19"},
		{name: "build arg overrides default", df: "ARG IMG=alpine\nARG TAG=3.19\nFROM $IMG:${TAG}\n",
			opts: Options{BuildArgs: map[string]string{"TAG": "edge"}}, wantImage: "alpine:edge"},
		{name: "build arg fills arg without default", df: "ARG IMG\nFROM $IMG\n",
			opts: Options{BuildArgs: map[string]string{"IMG": "debian"}}, wantImage: "debian"},
		{name: "undeclared build arg is not visible", df: "FROM img${IMG}\n",
			opts: Options{BuildArgs: map[string]string{"IMG": "debian"}}, wantImage: "img"},
		{name: "unset arg uses fallback", df: "ARG V\nFROM ${V:-busybox}\n", wantImage: "busybox"},
		{name: "set arg uses alternative", df: "ARG V=1\nFROM busybox${V:+:1.36}\n", wantImage: "busybox:1.36"},
		{name: "default refers to earlier global", df: "ARG A=x\nARG B=${A}y\nFROM $B\n", wantImage: "xy"},
		{name: "default refers to overridden global", df: "ARG A=x\nARG B=${A}y\nFROM $B\n",
			opts: Options{BuildArgs: map[string]string{"A": "q"}}, wantImage: "qy"},
		{name: "later global does not apply earlier", df: "ARG B=${A}y\nARG A=x\nFROM $B\n", wantImage: "y"},
		{name: "predefined args without declaration",
			df:   "FROM --platform=$BUILDPLATFORM img-$TARGETOS-$TARGETARCH\n",
			opts: Options{TargetPlatform: arm64, BuildPlatform: amd64}, wantImage: "img-linux-arm64", wantPlatform: "linux/amd64"},
		{name: "target platform with variant",
			df:   "FROM --platform=$TARGETPLATFORM img:$TARGETVARIANT\n",
			opts: Options{TargetPlatform: ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}}, wantImage: "img:v7", wantPlatform: "linux/arm/v7"},
		{name: "host platform by default", df: "FROM img-$TARGETARCH-$BUILDOS\n",
			wantImage: "img-" + runtime.GOARCH + "-linux"},
		{name: "global arg overrides predefined", df: "ARG TARGETOS=plan9\nFROM img-$TARGETOS\n", wantImage: "img-plan9"},
		{name: "build arg overrides predefined", df: "FROM img-$TARGETARCH\n",
			opts: Options{BuildArgs: map[string]string{"TARGETARCH": "riscv64"}}, wantImage: "img-riscv64"},
		{name: "target stage name", df: "FROM a AS one\nFROM img-$TARGETSTAGE AS two\n",
			opts: Options{Target: "two"}, wantImage: "img-two"},
		{name: "stage arg does not reach later FROM", df: "FROM a\nARG X=1\nFROM img$X\n", wantImage: "img"},
		{name: "quotes removed", df: "ARG T=\"3 .1\"\nFROM \"img:${T}\"\n", wantImage: "img:3 .1"},
		{name: "escaped dollar kept", df: "ARG A=x\nFROM img\\$A\n", wantImage: "img$A"},
		{name: "backtick escape", df: "# escape=`\nARG A=x\nFROM img`$A\\$A\n", wantImage: "img$A\\x"},
		{name: "scratch", df: "FROM scratch\n", wantScratch: true},
		{name: "expands to scratch", df: "ARG B=scratch\nFROM $B\n", wantScratch: true},
		{name: "earlier stage", df: "FROM a AS build\nFROM build\n", wantStage: 0},
		{name: "earlier stage via arg", df: "ARG B=build\nFROM a AS build\nFROM $B\n", wantStage: 0},
		{name: "earlier stage in other case", df: "FROM a AS build\nFROM Build\n", wantStage: 0},
		{name: "later stage name is an image", df: "FROM later\nFROM a AS later\n", firstStage: true, wantImage: "later"},
		{name: "own name is an image", df: "FROM self AS self\n", wantImage: "self"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := mustParse(t, tt.df, tt.opts)
			idx := len(g.Stages) - 1
			if tt.firstStage {
				idx = 0
			}
			s := g.Stages[idx]
			eq(t, s.From.Image, tt.wantImage)
			eq(t, s.From.Scratch, tt.wantScratch)
			eq(t, s.Platform, tt.wantPlatform)
			if tt.wantStage >= 0 && tt.wantImage == "" && !tt.wantScratch {
				if s.From.Stage != g.Stages[tt.wantStage] {
					t.Fatalf("From.Stage = %v, want stage %d", s.From.Stage, tt.wantStage)
				}
				eq(t, s.Deps, []*Stage{g.Stages[tt.wantStage]})
			} else if s.From.Stage != nil {
				t.Fatalf("From.Stage = %v, want nil", s.From.Stage.displayName())
			}
		})
	}
}

func TestStageArg(t *testing.T) {
	df := "ARG WITHDEF=global\nARG NODEF\nARG TARGETOS=plan9\nARG DEP=${WITHDEF}-dep\nFROM a\n"
	tests := []struct {
		name      string
		buildArgs map[string]string
		arg       string
		want      string
		wantOK    bool
	}{
		{name: "global default", arg: "WITHDEF", want: "global", wantOK: true},
		{name: "build arg beats global", buildArgs: map[string]string{"WITHDEF": "cli"}, arg: "WITHDEF", want: "cli", wantOK: true},
		{name: "global without default is unset", arg: "NODEF"},
		{name: "build arg fills global without default", buildArgs: map[string]string{"NODEF": "cli"}, arg: "NODEF", want: "cli", wantOK: true},
		{name: "build arg without any declaration", buildArgs: map[string]string{"OTHER": "cli"}, arg: "OTHER", want: "cli", wantOK: true},
		{name: "undeclared", arg: "OTHER"},
		{name: "predefined", arg: "TARGETARCH", want: "arm64", wantOK: true},
		{name: "predefined build platform", arg: "BUILDPLATFORM", want: "linux/amd64", wantOK: true},
		{name: "global overrides predefined", arg: "TARGETOS", want: "plan9", wantOK: true},
		{name: "resolved global default", buildArgs: map[string]string{"WITHDEF": "x"}, arg: "DEP", want: "x-dep", wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := mustParse(t, df, Options{BuildArgs: tt.buildArgs, TargetPlatform: arm64, BuildPlatform: amd64})
			got, ok := g.StageArg(tt.arg)
			eq(t, got, tt.want)
			eq(t, ok, tt.wantOK)
		})
	}
}

func TestBuildArgConsumption(t *testing.T) {
	g := mustParse(t, "FROM a\n", Options{BuildArgs: map[string]string{"X": "1", "Y": "2"}})
	eq(t, g.UnconsumedBuildArgs(), []string{"X", "Y"})
	if v, ok := g.BuildArg("X"); v != "1" || !ok {
		t.Fatalf("BuildArg(X) = %q, %v", v, ok)
	}
	eq(t, g.UnconsumedBuildArgs(), []string{"Y"})
	if _, ok := g.StageArg("Y"); !ok {
		t.Fatal("StageArg(Y) not found")
	}
	eq(t, g.UnconsumedBuildArgs(), []string(nil))
	if _, ok := g.BuildArg("Z"); ok {
		t.Fatal("BuildArg(Z) found")
	}
}

// TestArgScoping walks stages the way an executor does and checks what each
// ENV sees, which is where ARG scoping becomes observable.
func TestArgScoping(t *testing.T) {
	tests := []struct {
		name      string
		df        string
		buildArgs map[string]string
		want      map[string]string // ENV values at the end of the last stage
	}{
		{
			name: "global visible only after redeclaration",
			df:   "ARG V=global\nFROM a\nENV BEFORE=x$V\nARG V\nENV AFTER=x$V\n",
			want: map[string]string{"BEFORE": "x", "AFTER": "xglobal"},
		},
		{
			name:      "build arg beats global on redeclaration",
			df:        "ARG V=global\nFROM a\nARG V\nENV AFTER=$V\n",
			buildArgs: map[string]string{"V": "cli"},
			want:      map[string]string{"AFTER": "cli"},
		},
		{
			name: "stage default",
			df:   "FROM a\nARG V=def\nENV OUT=$V\n",
			want: map[string]string{"OUT": "def"},
		},
		{
			name:      "build arg beats stage default",
			df:        "FROM a\nARG V=def\nENV OUT=$V\n",
			buildArgs: map[string]string{"V": "cli"},
			want:      map[string]string{"OUT": "cli"},
		},
		{
			name: "stage default sees env",
			df:   "FROM a\nENV E=e\nARG V=${E}-x\nENV OUT=$V\n",
			want: map[string]string{"E": "e", "OUT": "e-x"},
		},
		{
			name: "stage default ignores global of same name",
			df:   "ARG V=global\nFROM a\nARG V=local\nENV OUT=$V\n",
			want: map[string]string{"OUT": "local"},
		},
		{
			name: "redeclared arg without any value stays unset",
			df:   "ARG V\nFROM a\nARG V\nENV OUT=${V-unset}\n",
			want: map[string]string{"OUT": "unset"},
		},
		{
			name: "predefined needs declaration",
			df:   "FROM a\nENV BEFORE=x$TARGETARCH\nARG TARGETARCH\nENV AFTER=$TARGETARCH\n",
			want: map[string]string{"BEFORE": "x", "AFTER": "arm64"},
		},
		{
			name: "declaration does not cross stages",
			df:   "ARG V=g\nFROM a\nARG V\nFROM b\nENV OUT=x$V\n",
			want: map[string]string{"OUT": "x"},
		},
		{
			name:      "overridden default is never evaluated",
			df:        "FROM a\nARG V=${X:?mustbeset}\nENV OUT=$V\n",
			buildArgs: map[string]string{"V": "cli"},
			want:      map[string]string{"OUT": "cli"},
		},
		{
			name: "several args on one line",
			df:   "ARG G=g\nFROM a\nARG A=1 G B=$A\nENV OUT=$A$G$B\n",
			want: map[string]string{"OUT": "1g1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := mustParse(t, tt.df, Options{BuildArgs: tt.buildArgs, TargetPlatform: arm64})
			s := g.Stages[len(g.Stages)-1]
			env := newScopeEnv()
			got := map[string]string{}
			for _, st := range s.Steps {
				cmd, err := env.apply(st)
				if err != nil {
					t.Fatal(err)
				}
				if c, ok := cmd.(*instructions.EnvCommand); ok {
					for _, kv := range c.Env {
						got[kv.Key] = kv.Value
					}
				}
			}
			eq(t, got, tt.want)
		})
	}
}

func TestResolveArgsErrors(t *testing.T) {
	g := mustParse(t, "FROM a\nUSER x\nARG V=${X:?mustbeset}\n", Options{})
	_, err := g.Stages[0].Steps[0].ResolveArgs(nil)
	if err == nil || err.Error() != "Dockerfile:2: resolving args of USER: not an ARG instruction" {
		t.Fatalf("got %v", err)
	}
	_, err = g.Stages[0].Steps[1].ResolveArgs(nil)
	if err == nil || !strings.HasPrefix(err.Error(), "Dockerfile:3: expanding ARG: ") || !strings.Contains(err.Error(), "mustbeset") {
		t.Fatalf("got %v", err)
	}
}
