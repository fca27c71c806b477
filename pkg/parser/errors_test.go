package parser

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

func TestParseErrors(t *testing.T) {
	long := "FROM a\nRUN " + strings.Repeat("x", 70*1024) + "\n"
	tests := []struct {
		name     string
		df       string
		opts     Options
		want     string // full error text
		wantLine int
	}{
		{name: "empty file", df: "", want: "Dockerfile: no build stages"},
		{name: "only comments", df: "# a\n\n# b\n", want: "Dockerfile: no build stages"},
		{name: "only global args", df: "ARG A=1\nARG B\n", want: "Dockerfile: no build stages"},
		{name: "unknown instruction", df: "FROM a\n\nRUN x\n\n\n\nRUNN y\n", want: "Dockerfile:7: unknown instruction: RUNN (did you mean RUN?)", wantLine: 7},
		{name: "unknown instruction custom filename", df: "FROM a\nFOO bar\n", opts: Options{Filename: "ctx/Containerfile"},
			want: "ctx/Containerfile:2: unknown instruction: FOO (did you mean FROM?)", wantLine: 2},
		{name: "instruction before FROM", df: "ARG A\n# c\nENV X=1\nFROM a\n", want: "Dockerfile:3: ENV before the first FROM: only ARG may precede FROM", wantLine: 3},
		{name: "unknown flag", df: "FROM a\nCOPY --bogus=1 a b\n", want: "Dockerfile:2: unknown flag: --bogus", wantLine: 2},
		{name: "flag not valid for instruction", df: "FROM a\nADD --from=x a b\n", want: "Dockerfile:2: unknown flag: --from", wantLine: 2},
		{name: "bad bool flag", df: "FROM a\nCOPY --link=maybe a b\n", want: "Dockerfile:2: expecting boolean value for flag --link, not: maybe", wantLine: 2},
		{name: "bad run mount", df: "FROM a\nRUN --mount=type=bogus true\n", want: "Dockerfile:2: unsupported mount type \"bogus\"", wantLine: 2},
		{name: "bad run network", df: "FROM a\nRUN --network=moon true\n", want: "Dockerfile:2: invalid network mode \"moon\"", wantLine: 2},
		{name: "bad healthcheck interval", df: "FROM a\nHEALTHCHECK --interval=x CMD true\n", want: "Dockerfile:2: time: invalid duration \"x\"", wantLine: 2},
		{name: "copy missing destination", df: "FROM a\nCOPY a\n", want: "Dockerfile:2: COPY requires at least two arguments, but only one was provided. Destination could not be determined", wantLine: 2},
		{name: "workdir missing argument", df: "FROM a\nWORKDIR\n", want: "Dockerfile:2: WORKDIR requires exactly one argument", wantLine: 2},
		{name: "env missing value", df: "FROM a\nENV A\n", want: "Dockerfile:2: ENV must have two arguments", wantLine: 2},
		{name: "from without image", df: "FROM\n", want: "Dockerfile:1: FROM requires either one or three arguments", wantLine: 1},
		{name: "from bad stage name", df: "FROM a AS 1x\n", want: "Dockerfile:1: invalid name for build stage: \"1x\", name can't start with a number or contain symbols", wantLine: 1},
		{name: "shell not json", df: "FROM a\nSHELL sh -c\n", want: "Dockerfile:2: SHELL requires the arguments to be in JSON form", wantLine: 2},
		{name: "onbuild onbuild", df: "FROM a\nONBUILD ONBUILD RUN x\n", want: "Dockerfile:2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed", wantLine: 2},
		{name: "heredoc as destination", df: "FROM a\nCOPY a <<EOF\nx\nEOF\n", want: "Dockerfile:2: COPY cannot accept a heredoc as a destination", wantLine: 2},
		{name: "unterminated heredoc", df: "FROM a\nRUN <<EOF\necho\n", want: "Dockerfile:2: unterminated heredoc", wantLine: 2},
		{name: "error after continuation names the first line", df: "FROM a\nCOPY \\\n  a\n", want: "Dockerfile:2: COPY requires at least two arguments, but only one was provided. Destination could not be determined", wantLine: 2},
		{name: "error after heredoc keeps counting", df: "FROM a\nRUN <<EOF\n1\n2\nEOF\nRUNN\n", want: "Dockerfile:6: unknown instruction: RUNN (did you mean RUN?)", wantLine: 6},
		{name: "invalid escape directive", df: "# escape=x\nFROM a\n", want: "Dockerfile:1: invalid escape token \"x\": must be ` or \\", wantLine: 1},
		{name: "repeated directive", df: "# escape=`\n# escape=\\\nFROM a\n", want: "Dockerfile:2: only one escape parser directive can be used", wantLine: 2},
		{name: "bad check directive", df: "# check=bogus\nFROM a\n", want: "Dockerfile:1: parsing check directive: invalid check option \"bogus\"", wantLine: 1},
		{name: "check error=true", df: "# check=error=true\nFROM a\nMAINTAINER me\n", want: "Dockerfile:3: lint violation found for rules: MaintainerDeprecated", wantLine: 3},
		{name: "empty image after expansion", df: "ARG IMG\nFROM a\nFROM $IMG\n", want: "Dockerfile:3: base name \"$IMG\" expands to an empty string", wantLine: 3},
		{name: "image expansion error", df: "FROM ${IMG:?required}\n", want: "Dockerfile:1: expanding base name \"${IMG:?required}\": failed to process \"${IMG:?required}\": IMG: required", wantLine: 1},
		{name: "empty platform after expansion", df: "FROM --platform=$P a\n", want: "Dockerfile:1: platform \"$P\" expands to an empty string", wantLine: 1},
		{name: "global arg expansion error", df: "ARG A=${B:?nope}\nFROM a\n", want: "Dockerfile:1: failed to process \"${B:?nope}\": B: nope", wantLine: 1},
		{name: "copy from with variable", df: "FROM a\nCOPY --from=$X a b\n", want: "Dockerfile:2: variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround", wantLine: 2},
		{name: "copy from bad index", df: "FROM a\nFROM b\nCOPY --from=2 a b\n", want: "Dockerfile:3: invalid stage index 2", wantLine: 3},
		{name: "copy from negative index", df: "FROM a\nCOPY --from=-1 a b\n", want: "Dockerfile:2: invalid stage index -1", wantLine: 2},
		{name: "mount from with variable", df: "FROM a\nRUN --mount=from=$X,target=/x true\n", want: "Dockerfile:2: 'from' doesn't support variable expansion, define alias stage instead", wantLine: 2},
		{name: "unknown target", df: "FROM a AS x\n", opts: Options{Target: "y"}, want: "Dockerfile: target stage \"y\" could not be found"},
		{name: "line too long", df: long, want: "Dockerfile:2: dockerfile line greater than max allowed size of 65535", wantLine: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := parseErr(t, tt.df, tt.opts)
			eq(t, err.Error(), tt.want)
			eq(t, err.Loc.Line, tt.wantLine)
		})
	}
}

func TestTypedErrors(t *testing.T) {
	_, err := Parse(strings.NewReader("FROM a\n"), Options{Target: "nope"})
	var tnf *TargetNotFoundError
	if !errors.As(err, &tnf) || tnf.Name != "nope" {
		t.Fatalf("got %v, want a TargetNotFoundError for nope", err)
	}
	_, err = Parse(strings.NewReader("ARG A\n"), Options{})
	if !errors.Is(err, ErrNoStages) {
		t.Fatalf("got %v, want ErrNoStages", err)
	}
	_, err = Parse(strings.NewReader("FROM a\nRUNN x\n"), Options{})
	var uie *instructions.UnknownInstructionError
	if !errors.As(err, &uie) || uie.Instruction != "RUNN" {
		t.Fatalf("got %v, want an UnknownInstructionError", err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestReadError(t *testing.T) {
	_, err := Parse(failingReader{}, Options{Filename: "x/Dockerfile"})
	var pe *Error
	if !errors.As(err, &pe) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v, want a located read error", err)
	}
	eq(t, err.Error(), "x/Dockerfile: reading x/Dockerfile: unexpected EOF")
}

func TestLocationString(t *testing.T) {
	tests := []struct {
		loc  Location
		want string
	}{
		{Location{File: "Dockerfile", Line: 7, EndLine: 9}, "Dockerfile:7"},
		{Location{File: "Dockerfile"}, "Dockerfile"},
		{Location{File: "a/b.Dockerfile", Line: 1}, "a/b.Dockerfile:1"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			eq(t, tt.loc.String(), tt.want)
		})
	}
}
