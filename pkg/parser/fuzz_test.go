package parser

import (
	"errors"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// FuzzParse feeds arbitrary text to Parse. It must never panic, every error
// must be a located *Error, and a successful parse must end Needed with the
// target. Expanding every step must not panic either.
func FuzzParse(f *testing.F) {
	seeds := []string{
		"FROM alpine\nRUN echo hi\n",
		"# escape=`\nFROM alpine\nRUN echo `\n  hi\n",
		"# syntax=docker/dockerfile:1\nARG A=1\nFROM img:$A AS b\nFROM scratch\nCOPY --from=b /a /b\n",
		"FROM alpine AS a\nCOPY --from=b x y\nFROM alpine AS b\nCOPY --from=a x y\n",
		"FROM alpine\nRUN <<EOF\necho $A\nEOF\nCOPY <<-'X' /f\n\thi\nX\n",
		"FROM alpine\nRUN --mount=type=cache,target=/c --mount=from=0,target=/x ls\n",
		"FROM alpine\nONBUILD RUN <<EOF\nx\nEOF\n",
		"FROM --platform=$BUILDPLATFORM alpine\nHEALTHCHECK --retries=3 CMD [\"true\"]\n",
		"FROM a\nENV A=1 B=2\nLABEL a=b\nEXPOSE 80 $P\nVOLUME [\"/v\"]\nUSER u:g\nWORKDIR /w\nSTOPSIGNAL SIGTERM\nSHELL [\"sh\",\"-c\"]\nCMD x\nENTRYPOINT [\"y\"]\nMAINTAINER m\nADD --checksum=sha256:00 --chmod=644 http://x /y\n",
		"# check=skip=all\nFROM a\n# check=error=true\nRUN x\n",
		"# check=skip=JSONArgsRecommended,MaintainerDeprecated;error=true\nFROM a\nCMD x\nMAINTAINER m\n",
		"# check=experimental=all;skip=all\n\n# desc\nFROM a AS b\n# X the x\nARG X\n",
		"# check=bogus\nFROM a\n",
		"#check = error=1\nFROM --platform=$TARGETPLATFORM a:$NOPE as B\nfrom b\nWORKDIR w\nEXPOSE 1.2.3.4:80:80/TCP\nENV K V\n",
		"ARG X\nFROM ${X:-a}\nARG X\nRUN ${X:?bad}\n",
		"FROM a\\\n# c\n  b\n",
		"",
	}
	for _, s := range seeds {
		f.Add(s, "")
	}
	f.Add("FROM a AS x\nFROM b AS y\n", "x")
	f.Fuzz(func(t *testing.T, df, target string) {
		g, err := Parse(strings.NewReader(df), Options{Target: target, BuildArgs: map[string]string{"A": "1"}})
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is %T, not *Error", err, err)
			}
			if pe.Loc.Line < 0 || pe.Loc.File != "Dockerfile" {
				t.Fatalf("bad location %+v in %v", pe.Loc, err)
			}
			return
		}
		needed := g.Needed()
		if len(needed) == 0 || needed[len(needed)-1] != g.Target {
			t.Fatalf("Needed() does not end with the target")
		}
		pos := map[*Stage]int{}
		for i, s := range needed {
			if _, dup := pos[s]; dup {
				t.Fatalf("stage %d listed twice by Needed()", s.Index)
			}
			pos[s] = i
		}
		for _, s := range needed {
			for _, d := range s.Deps {
				if p, ok := pos[d]; !ok || p >= pos[s] {
					t.Fatalf("dependency %d of stage %d not listed before it", d.Index, s.Index)
				}
			}
		}
		for _, s := range g.Stages {
			for _, st := range s.Steps {
				_, _, err := st.ExpandChecked(nil, nil)
				if _, isArg := st.Cmd.(*instructions.ArgCommand); isArg && err == nil {
					_, err = st.ResolveArgs(nil)
				}
				if err != nil {
					var pe *Error
					if !errors.As(err, &pe) || pe.Loc.Line <= 0 {
						t.Fatalf("expand error %v is not located", err)
					}
				}
			}
		}
	})
}
