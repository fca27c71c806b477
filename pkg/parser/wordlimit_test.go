package parser

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// doublingArgs is a Dockerfile whose global ARGs double a variable n
// times: A<k> is 2^k bytes long.
func doublingArgs(n int) string {
	var b strings.Builder
	b.WriteString("ARG A0=x\n")
	for k := 1; k <= n; k++ {
		fmt.Fprintf(&b, "ARG A%d=$A%d$A%d\n", k, k-1, k-1)
	}
	b.WriteString("FROM scratch\n")
	return b.String()
}

func TestExpansionSizeLimitInParse(t *testing.T) {
	big := strings.Repeat("x", 2048)
	cases := []struct {
		name     string
		df       string
		wantLine int // 0: Parse succeeds
	}{
		// A21 is 2 MiB, the first past the limit; ARG A0 is line 1.
		{name: "fifty doublings", df: doublingArgs(50), wantLine: 22},
		{name: "twenty doublings fit", df: doublingArgs(20)},
		{name: "pattern substitution squaring a value", df: "ARG A=" + big + "\nARG B=${A//?/$A}\nFROM scratch\n", wantLine: 2},
		{name: "pattern substitution with a short replacement", df: "ARG A=" + big + "\nARG B=${A//x/yy}\nFROM scratch\n"},
		{name: "nested pattern substitution", df: "ARG A=" + big + "\nARG B=${A//x/${A//x/yy}}\nFROM scratch\n", wantLine: 2},
		{name: "base name", df: strings.TrimSuffix(doublingArgs(19), "FROM scratch\n") + "FROM $A19$A19$A19\n", wantLine: 21},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.wantLine == 0 {
				mustParse(t, tc.df, Options{})
				return
			}
			pe := parseErr(t, tc.df, Options{Filename: "Dockerfile"})
			var we *WordSizeError
			if !errors.As(pe, &we) {
				t.Fatalf("error %v does not wrap a *WordSizeError", pe)
			}
			if pe.Loc.Line != tc.wantLine {
				t.Errorf("error at line %d, want %d: %v", pe.Loc.Line, tc.wantLine, pe)
			}
			if msg := pe.Error(); !strings.HasPrefix(msg, fmt.Sprintf("Dockerfile:%d: ", tc.wantLine)) || len(msg) > 300 || strings.Contains(msg, "\n") {
				t.Errorf("message is not one short line naming the line: %.400q", msg)
			}
		})
	}
}

func TestExpansionSizeLimitInExpand(t *testing.T) {
	half := strings.Repeat("y", MaxWordSize/2+1)
	cases := []struct {
		name    string
		line    string
		env     mapEnv
		wantErr bool
	}{
		{name: "ENV doubling past the limit", line: "ENV B=$A$A", env: mapEnv{"A": half}, wantErr: true},
		{name: "ENV at half the limit", line: "ENV B=$A", env: mapEnv{"A": half}},
		{name: "LABEL past the limit", line: "LABEL l=${A}x${A}", env: mapEnv{"A": half}, wantErr: true},
		{name: "EXPOSE past the limit", line: "EXPOSE $A$A", env: mapEnv{"A": half}, wantErr: true},
		{name: "COPY heredoc past the limit", line: "COPY <<EOF /f\n$A$A\nEOF", env: mapEnv{"A": half}, wantErr: true},
		{name: "WORKDIR substitution squaring", line: "WORKDIR /${S//?/$S}", env: mapEnv{"S": strings.Repeat("s", 4096)}, wantErr: true},
		{name: "WORKDIR substitution", line: "WORKDIR /${S//s/t}", env: mapEnv{"S": strings.Repeat("s", 4096)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := onlyStep(t, tc.line)
			cmd, err := st.Expand(tc.env)
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("Expand: %v", err)
				}
				if _, ok := cmd.(instructions.Command); !ok {
					t.Fatalf("Expand returned %T", cmd)
				}
				return
			}
			var we *WordSizeError
			var pe *Error
			if !errors.As(err, &we) || !errors.As(err, &pe) || pe.Loc.Line != 2 {
				t.Fatalf("Expand error = %v, want a *WordSizeError located at line 2", err)
			}
		})
	}
}
