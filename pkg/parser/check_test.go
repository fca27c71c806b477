package parser

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// findings lists the build-check findings of ws as "Rule@line".
func findings(ws []Warning) string {
	var out []string
	for _, w := range ws {
		if w.Rule != "" {
			out = append(out, fmt.Sprintf("%s@%d", w.Rule, w.Loc.Line))
		}
	}
	return strings.Join(out, " ")
}

// TestCheckRules runs each build check the parser evaluates on a
// Dockerfile that trips it, and on one that must not.
func TestCheckRules(t *testing.T) {
	tests := []struct {
		name string
		df   string
		opts Options
		want string
	}{
		{"none", "FROM a\nCMD [\"x\"]\n", Options{}, ""},
		{"StageNameCasing", "FROM a AS Build\n", Options{}, "StageNameCasing@1"},
		{"FromAsCasing", "FROM a as b\n", Options{}, "FromAsCasing@1"},
		{"ConsistentInstructionCasing upper wins", "FROM a\nrun x\nRUN y\n", Options{}, "ConsistentInstructionCasing@2"},
		{"ConsistentInstructionCasing lower wins", "from a\nrun x\nRuN y\n", Options{}, "ConsistentInstructionCasing@3"},
		{"DuplicateStageName", "FROM a AS x\nFROM b AS x\n", Options{}, "DuplicateStageName@2"},
		{"ReservedStageName", "FROM a AS context\n", Options{}, "ReservedStageName@1"},
		{"NoEmptyContinuation", "FROM a\nRUN echo \\\n\n  hi\n", Options{}, "NoEmptyContinuation@4"},
		{"MaintainerDeprecated", "FROM a\nMAINTAINER me\n", Options{}, "MaintainerDeprecated@2"},
		{"JSONArgsRecommended", "FROM a\nCMD x\nENTRYPOINT y\n", Options{}, "JSONArgsRecommended@2 JSONArgsRecommended@3"},
		{"JSONArgsRecommended after SHELL", "FROM a\nSHELL [\"sh\", \"-c\"]\nCMD x\n", Options{}, ""},
		{"JSONArgsRecommended SHELL of base stage", "FROM a AS b\nSHELL [\"sh\", \"-c\"]\nFROM b\nCMD x\n", Options{}, ""},
		{"MultipleInstructionsDisallowed", "FROM a\nCMD [\"a\"]\nHEALTHCHECK NONE\nCMD [\"b\"]\nHEALTHCHECK NONE\n", Options{},
			"MultipleInstructionsDisallowed@2 MultipleInstructionsDisallowed@3"},
		{"MultipleInstructionsDisallowed per stage", "FROM a AS b\nCMD [\"a\"]\nFROM b\nCMD [\"b\"]\n", Options{}, ""},
		{"LegacyKeyValueFormat", "FROM a\nENV A 1\nLABEL b 2\nENV C=3\n", Options{}, "LegacyKeyValueFormat@2 LegacyKeyValueFormat@3"},
		{"SecretsUsedInArgOrEnv", "FROM a\nARG API_KEY\nENV github_token=x\nARG PUBLIC_KEY\nENV KEYBOARD=1 VERSION_TOKEN=2\n", Options{},
			"SecretsUsedInArgOrEnv@2 SecretsUsedInArgOrEnv@3"},
		{"WorkdirRelativePath", "FROM a\nWORKDIR app\nWORKDIR sub\n", Options{}, "WorkdirRelativePath@2"},
		{"WorkdirRelativePath after absolute", "FROM a\nWORKDIR /app\nWORKDIR sub\n", Options{}, ""},
		{"WorkdirRelativePath variable", "FROM a\nWORKDIR $HOME/app\n", Options{}, ""},
		{"WorkdirRelativePath base stage", "FROM a AS b\nWORKDIR /x\nFROM b\nWORKDIR y\n", Options{}, ""},
		{"UndefinedArgInFrom", "ARG VERSION=1\nFROM a$VERSOIN\n", Options{}, "UndefinedArgInFrom@2"},
		{"UndefinedArgInFrom declared", "ARG TAG\nFROM a:${TAG:-1}\n", Options{}, ""},
		{"UndefinedArgInFrom platform", "FROM --platform=linux/${ARHC:-amd64} a\n", Options{}, "UndefinedArgInFrom@1"},
		{"InvalidDefaultArgInFrom", "ARG TAG\nFROM a:${TAG}\n", Options{BuildArgs: map[string]string{"TAG": "1"}}, "InvalidDefaultArgInFrom@2"},
		{"RedundantTargetPlatform", "FROM --platform=$TARGETPLATFORM a\n", Options{}, "RedundantTargetPlatform@1"},
		{"FromPlatformFlagConstDisallowed", "FROM --platform=linux/amd64 a\n", Options{}, "FromPlatformFlagConstDisallowed@1"},
		{"FromPlatformFlagConstDisallowed named for it", "FROM --platform=linux/amd64 a AS build-amd64\n", Options{}, ""},
		{"FromPlatformFlagConstDisallowed variable", "FROM --platform=$BUILDPLATFORM a\n", Options{}, ""},
		{"ExposeProtoCasing", "FROM a\nEXPOSE 80/TCP 81/udp\n", Options{}, "ExposeProtoCasing@2"},
		{"ExposeInvalidFormat", "FROM a\nEXPOSE 127.0.0.1:80:80\n", Options{}, "ExposeInvalidFormat@2"},
		{"CopyIgnoredFile", "FROM a\nCOPY secret.txt /\nADD secret.txt /\nCOPY --from=img secret.txt /\nCOPY ok.txt /\n",
			Options{Ignore: []string{"secret.txt"}}, "CopyIgnoredFile@2 CopyIgnoredFile@3"},
		{"CopyIgnoredFile parent directory", "FROM a\nCOPY dir/file /\n", Options{Ignore: []string{"dir"}}, "CopyIgnoredFile@2"},
		{"CopyIgnoredFile with exclusions", "FROM a\nCOPY secret.txt /\n", Options{Ignore: []string{"*.txt", "!keep.txt"}}, ""},
		{"CopyIgnoredFile context root", "FROM a\nCOPY . /\n", Options{Ignore: []string{"secret.txt"}}, ""},
		{"CopyIgnoredFile context root all ignored", "FROM a\nCOPY . /\n", Options{Ignore: []string{"*"}}, "CopyIgnoredFile@2"},
		{"InvalidDefinitionDescription is experimental", "# the base stage\nFROM a AS base\n", Options{}, ""},
		{"InvalidDefinitionDescription enabled", "# check=experimental=InvalidDefinitionDescription\n\n# the base stage\nFROM a AS base\n", Options{},
			"InvalidDefinitionDescription@4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := mustParse(t, tt.df, tt.opts)
			if got := findings(g.Warnings); got != tt.want {
				t.Errorf("findings %q, want %q\n%v", got, tt.want, g.Warnings)
			}
		})
	}
}

// TestCheckConfig covers the `# check=` directive and the build argument
// that replaces it.
func TestCheckConfig(t *testing.T) {
	const body = "FROM a\nMAINTAINER me\nCMD x\n"
	const both = "MaintainerDeprecated@3 JSONArgsRecommended@4"
	override := func(v string) Options { return Options{BuildArgs: map[string]string{CheckArg: v}} }
	tests := []struct {
		name      string
		directive string
		opts      Options
		want      string
		wantCfg   CheckConfig
	}{
		{"no directive", "# nothing\n", Options{}, both, CheckConfig{}},
		{"skip one", "# check=skip=MaintainerDeprecated\n", Options{}, "JSONArgsRecommended@4", CheckConfig{Skip: []string{"MaintainerDeprecated"}}},
		{"skip list", "# check=skip=MaintainerDeprecated,JSONArgsRecommended\n", Options{}, "",
			CheckConfig{Skip: []string{"MaintainerDeprecated", "JSONArgsRecommended"}}},
		{"skip all", "# check=skip=all\n", Options{}, "", CheckConfig{SkipAll: true}},
		{"directive name any case", "# CHECK=skip=all\n", Options{}, "", CheckConfig{SkipAll: true}},
		{"spaces around =", "#check = skip=all\n", Options{}, "", CheckConfig{SkipAll: true}},
		{"skip all with error", "# check=skip=all;error=true\n", Options{}, "", CheckConfig{SkipAll: true, Error: true}},
		{"error false", "# check=error=false\n", Options{}, both, CheckConfig{}},
		{"not a directive after a comment", "# note\n# check=skip=all\n", Options{}, "MaintainerDeprecated@4 JSONArgsRecommended@5", CheckConfig{}},
		{"build arg replaces directive", "# check=skip=JSONArgsRecommended\n", override("skip=MaintainerDeprecated"),
			"JSONArgsRecommended@4", CheckConfig{Skip: []string{"MaintainerDeprecated"}}},
		{"build arg replaces invalid directive", "# check=bogus\n", override("skip=all"), "", CheckConfig{SkipAll: true}},
		{"empty build arg", "# check=skip=all\n", override(""), both, CheckConfig{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := mustParse(t, tt.directive+body, tt.opts)
			if got := findings(g.Warnings); got != tt.want {
				t.Errorf("findings %q, want %q", got, tt.want)
			}
			if fmt.Sprint(g.Check) != fmt.Sprint(tt.wantCfg) {
				t.Errorf("Check = %+v, want %+v", g.Check, tt.wantCfg)
			}
			if len(g.UnconsumedBuildArgs()) != 0 {
				t.Errorf("unconsumed build args %v", g.UnconsumedBuildArgs())
			}
		})
	}
}

// TestCheckConfigErrors: a bad directive or build argument fails the parse
// with a message naming where it is.
func TestCheckConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		df   string
		opts Options
		want string
	}{
		{"unknown option", "# check=bogus\nFROM a\n", Options{}, `Dockerfile:1: parsing check directive: invalid check option "bogus"`},
		{"unknown key", "# syntax=docker/dockerfile:1\n# check=skipp=all\nFROM a\n", Options{}, `Dockerfile:2: parsing check directive: invalid check option "skipp"`},
		{"bad bool", "# check=error=maybe\nFROM a\n", Options{Filename: "ctx/Dockerfile"},
			`ctx/Dockerfile:1: parsing check directive: failed to parse check option "error=maybe": strconv.ParseBool: parsing "maybe": invalid syntax`},
		{"twice", "# check=skip=all\n# check=error=true\nFROM a\n", Options{}, "Dockerfile:2: only one check parser directive can be used"},
		{"bad build arg", "FROM a\n", Options{BuildArgs: map[string]string{CheckArg: "error"}},
			`Dockerfile: build arg BUILDKIT_DOCKERFILE_CHECK: invalid check option "error"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pe := parseErr(t, tt.df, tt.opts)
			if pe.Error() != tt.want {
				t.Errorf("error %q, want %q", pe.Error(), tt.want)
			}
		})
	}
}

// TestCheckErrorTrue: with error=true the findings fail the parse, located
// at the first one, and the *CheckError carries them all.
func TestCheckErrorTrue(t *testing.T) {
	df := "# check=error=true\nFROM a\nCMD x\nMAINTAINER me\n"
	pe := parseErr(t, df, Options{})
	want := "Dockerfile:3: lint violation found for rules: JSONArgsRecommended, MaintainerDeprecated"
	if pe.Error() != want {
		t.Errorf("error %q, want %q", pe.Error(), want)
	}
	var ce *CheckError
	if !errors.As(pe, &ce) {
		t.Fatalf("error %v does not wrap a *CheckError", pe)
	}
	if got := findings(ce.Warnings); got != "JSONArgsRecommended@3 MaintainerDeprecated@4" {
		t.Errorf("CheckError findings %q", got)
	}
	// Build arguments that are not consumed are not build checks.
	mustParse(t, df[:len(df)-len("CMD x\nMAINTAINER me\n")], Options{BuildArgs: map[string]string{"UNUSED": "1"}})
}

// TestCheckWarningFields: a finding carries the rule, its documentation
// and the line.
func TestCheckWarningFields(t *testing.T) {
	g := mustParse(t, "FROM a\n\nCMD echo \\\n  hi\n", Options{Filename: "sub/Dockerfile"})
	if len(g.Warnings) != 1 {
		t.Fatalf("warnings %v, want one", g.Warnings)
	}
	w := g.Warnings[0]
	want := Warning{
		Loc:         Location{File: "sub/Dockerfile", Line: 3, EndLine: 4},
		Message:     "JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals",
		Rule:        "JSONArgsRecommended",
		Description: "JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals",
		Detail:      "JSON arguments recommended for CMD to prevent unintended behavior related to OS signals",
		URL:         "https://docs.docker.com/go/dockerfile/rule/json-args-recommended/",
	}
	if w != want {
		t.Errorf("warning\n%+v, want\n%+v", w, want)
	}
	if s := w.String(); s != "sub/Dockerfile:3: "+want.Message {
		t.Errorf("String() = %q", s)
	}
}

// TestCheckCommentAboveInstruction: a `# check=` comment right above an
// instruction adds to the configuration for that instruction only.
func TestCheckCommentAboveInstruction(t *testing.T) {
	df := "FROM a\n# check=skip=JSONArgsRecommended\nCMD x\nENTRYPOINT y\n" +
		"# check=skip=UndefinedArgInFrom\nFROM b:$NOPE\nFROM c:$NOPE2\n"
	g := mustParse(t, df, Options{CheckAllStages: true})
	want := "JSONArgsRecommended@4 InvalidDefaultArgInFrom@6 InvalidDefaultArgInFrom@7 UndefinedArgInFrom@7"
	if got := findings(g.Warnings); got != want {
		t.Errorf("findings %q, want %q", got, want)
	}
}

// TestCheckStages: the checks BuildKit runs while dispatching steps cover
// the stages the target needs, or every stage with CheckAllStages; the
// checks of parsing cover every stage either way.
func TestCheckStages(t *testing.T) {
	df := "FROM a AS Unused\nCMD x\nFROM b AS used\nCMD y\nFROM used\nCMD [\"z\"]\n"
	tests := []struct {
		opts Options
		want string
	}{
		{Options{}, "StageNameCasing@1 JSONArgsRecommended@4"},
		{Options{Target: "used"}, "StageNameCasing@1 JSONArgsRecommended@4"},
		{Options{CheckAllStages: true}, "StageNameCasing@1 JSONArgsRecommended@2 JSONArgsRecommended@4"},
	}
	for _, tt := range tests {
		g := mustParse(t, df, tt.opts)
		if got := findings(g.Warnings); got != tt.want {
			t.Errorf("%+v: findings %q, want %q", tt.opts, got, tt.want)
		}
	}
}

// TestCheckUndefinedVar covers the check a build runs when it expands a
// step: variables the environment lacks, unless an ARG declared them.
func TestCheckUndefinedVar(t *testing.T) {
	df := "FROM a\nARG DECL\nCOPY $DECL $NOPE $KNOWN ${MAYBE:-x} /d\nRUN echo $NOPE\nARG A=$KNWON\n" +
		"# check=skip=UndefinedVar\nWORKDIR /$NOPE\n"
	g := mustParse(t, df, Options{})
	env := mapEnv{"KNOWN": "1"}
	declared := func(n string) bool { return n == "DECL" }
	var got []string
	for _, st := range g.Target.Steps {
		cmd, ws, err := st.ExpandChecked(env, declared)
		if err != nil || cmd == nil {
			t.Fatalf("ExpandChecked(%s): %v", st.Text, err)
		}
		for _, w := range ws {
			got = append(got, fmt.Sprintf("%s@%d: %s", w.Rule, w.Loc.Line, w.Detail))
		}
	}
	want := []string{
		"UndefinedVar@3: Usage of undefined variable '$MAYBE'",
		"UndefinedVar@3: Usage of undefined variable '$NOPE'",
		"UndefinedVar@5: Usage of undefined variable '$KNWON' (did you mean $KNOWN?)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	g = mustParse(t, "# check=error=true\nFROM a\nCOPY $NOPE /d\n", Options{})
	_, ws, err := g.Target.Steps[0].ExpandChecked(nil, nil)
	if err != nil || len(ws) != 1 {
		t.Fatalf("ExpandChecked: %v %v", ws, err)
	}
	if err := g.CheckFailure(ws); err == nil || err.Error() != "Dockerfile:3: lint violation found for rules: UndefinedVar" {
		t.Errorf("CheckFailure = %v", err)
	}
	if err := g.CheckFailure(nil); err != nil {
		t.Errorf("CheckFailure(nil) = %v", err)
	}
}
