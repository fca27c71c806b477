package parser

import (
	"testing"
)

func TestStageGraph(t *testing.T) {
	tests := []struct {
		name       string
		df         string
		target     string
		wantTarget string
		wantNeeded string
		wantDeps   map[string]string // stage -> its deps
	}{
		{
			name:       "single stage",
			df:         "FROM a\nRUN x\n",
			wantTarget: "stage-0",
			wantNeeded: "stage-0",
			wantDeps:   map[string]string{"stage-0": ""},
		},
		{
			name:       "last stage is the default target and unneeded stages are pruned",
			df:         "FROM a AS base\nFROM a AS unused\nFROM base AS final\n",
			wantTarget: "final",
			wantNeeded: "base,final",
		},
		{
			name:       "target prunes later stages",
			df:         "FROM a AS base\nFROM base AS mid\nFROM mid AS final\n",
			target:     "mid",
			wantTarget: "mid",
			wantNeeded: "base,mid",
		},
		{
			name:       "target is case insensitive",
			df:         "FROM a AS base\nFROM a AS final\n",
			target:     "BASE",
			wantTarget: "base",
			wantNeeded: "base",
		},
		{
			name: "copy from name, index and image",
			df: "FROM a AS one\nFROM a AS two\nFROM a AS unused\n" +
				"FROM a\nCOPY --from=two /x /x\nCOPY --from=0 /y /y\nCOPY --from=golang:1.22 /z /z\nCOPY --from=two /w /w\n",
			wantTarget: "stage-3",
			wantNeeded: "two,one,stage-3",
			wantDeps:   map[string]string{"stage-3": "two,one", "unused": ""},
		},
		{
			name:       "copy from a later stage",
			df:         "FROM a AS first\nCOPY --from=second /x /x\nFROM a AS second\n",
			target:     "first",
			wantTarget: "first",
			wantNeeded: "second,first",
		},
		{
			name:       "copy from name in other case",
			df:         "FROM a AS build\nFROM a\nCOPY --from=BUILD /x /x\n",
			wantTarget: "stage-1",
			wantNeeded: "build,stage-1",
		},
		{
			name: "run mount from stage",
			df: "FROM a AS cache\nFROM a AS src\nFROM a\n" +
				"RUN --mount=type=cache,target=/c --mount=from=src,target=/s --mount=type=bind,from=cache,target=/d --mount=from=alpine,target=/e make\n",
			wantTarget: "stage-2",
			wantNeeded: "src,cache,stage-2",
			wantDeps:   map[string]string{"stage-2": "src,cache"},
		},
		{
			name: "diamond dependencies listed once, dependencies first",
			df: "FROM a AS base\nFROM base AS left\nFROM base AS right\n" +
				"FROM left AS final\nCOPY --from=right /r /r\nCOPY --from=base /b /b\n",
			wantTarget: "final",
			wantNeeded: "base,left,right,final",
			wantDeps:   map[string]string{"final": "left,right,base", "left": "base"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := mustParse(t, tt.df, Options{Target: tt.target})
			eq(t, g.Target.displayName(), tt.wantTarget)
			eq(t, stageNames(g.Needed()), tt.wantNeeded)
			for _, s := range g.Stages {
				want, ok := tt.wantDeps[s.displayName()]
				if !ok {
					continue
				}
				eq(t, stageNames(s.Deps), want)
			}
		})
	}
}

func TestStepReferences(t *testing.T) {
	df := "FROM a AS build\n" + // stage 0
		"FROM a\n" +
		"COPY --from=build /a /a\n" + // step 0
		"COPY --from=0 /a /a\n" + // step 1
		"COPY --from=docker.io/library/alpine:3 /a /a\n" + // step 2
		"COPY --from=ctx /a /a\n" + // step 3
		"COPY /a /a\n" + // step 4
		"RUN --mount=type=cache,target=/c --mount=from=build,target=/b true\n" + // step 5
		"ADD /a /a\n" // step 6
	g := mustParse(t, df, Options{})
	build := g.Stages[0]
	steps := g.Stages[1].Steps
	tests := []struct {
		step       int
		wantFrom   *Stage
		wantRef    string
		wantMounts []*Stage
	}{
		{step: 0, wantFrom: build},
		{step: 1, wantFrom: build},
		{step: 2, wantRef: "docker.io/library/alpine:3"},
		{step: 3, wantRef: "ctx"},
		{step: 4},
		{step: 5, wantFrom: build, wantMounts: []*Stage{nil, build}},
		{step: 6},
	}
	for _, tt := range tests {
		t.Run(steps[tt.step].Text, func(t *testing.T) {
			st := steps[tt.step]
			if st.From != tt.wantFrom {
				t.Errorf("From = %v, want %v", st.From, tt.wantFrom)
			}
			eq(t, st.FromRef, tt.wantRef)
			eq(t, st.MountStages, tt.wantMounts)
		})
	}
	eq(t, stageNames(g.Stages[1].Deps), "build")
}

func TestStageNames(t *testing.T) {
	g := mustParse(t, "FROM a AS Builder\nFROM b as x-y_z.1\nFROM c\n", Options{})
	eq(t, g.Stages[0].Name, "builder")
	eq(t, g.Stages[1].Name, "x-y_z.1")
	eq(t, g.Stages[2].Name, "")
	for i, s := range g.Stages {
		eq(t, s.Index, i)
		eq(t, s.Loc.Line, i+1)
	}
}

func TestCycles(t *testing.T) {
	tests := []struct {
		name string
		df   string
		want string
	}{
		{
			name: "copy from itself by name",
			df:   "FROM a AS x\nRUN true\nCOPY --from=x /a /b\n",
			want: "Dockerfile:3: circular dependency between stages: x needs x at Dockerfile:3",
		},
		{
			name: "copy from itself by index",
			df:   "FROM a\nFROM a\nCOPY --from=1 /a /b\n",
			want: "Dockerfile:3: circular dependency between stages: stage-1 needs stage-1 at Dockerfile:3",
		},
		{
			name: "two stages",
			df:   "FROM a AS x\nCOPY --from=y /a /b\nFROM a AS y\nCOPY --from=x /a /b\n",
			want: "Dockerfile:2: circular dependency between stages: x needs y at Dockerfile:2, y needs x at Dockerfile:4",
		},
		{
			name: "through FROM and mount",
			df:   "FROM a AS x\nRUN --mount=from=z,target=/z true\nFROM x AS y\nFROM y AS z\n",
			want: "Dockerfile:2: circular dependency between stages: x needs z at Dockerfile:2, z needs y at Dockerfile:4, y needs x at Dockerfile:3",
		},
		{
			name: "cycle among stages the target does not need",
			df:   "FROM a AS x\nCOPY --from=y /a /b\nFROM a AS y\nCOPY --from=x /a /b\nFROM a AS final\n",
			want: "Dockerfile:2: circular dependency between stages: x needs y at Dockerfile:2, y needs x at Dockerfile:4",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := parseErr(t, tt.df, Options{})
			eq(t, err.Error(), tt.want)
		})
	}
}

func TestNeededWithoutTarget(t *testing.T) {
	if got := (&Graph{}).Needed(); got != nil {
		t.Fatalf("Needed() = %v, want nil", got)
	}
}

// TestDuplicateNames: a stage name used twice is a warning, as in
// BuildKit; FROM refers to the last stage of that name above it, while COPY
// --from, RUN --mount from= and --target refer to the last in the file.
func TestDuplicateNames(t *testing.T) {
	const df = "FROM a AS build\n" +
		"RUN x\n" +
		"FROM build AS early\n" +
		"FROM b AS BUILD\n" +
		"FROM build AS late\n" +
		"COPY --from=build /x /x\n" +
		"RUN --mount=from=build,target=/m true\n"
	g := mustParse(t, df, Options{})
	first, second := g.Stages[0], g.Stages[2]
	if g.Stages[1].From.Stage != first {
		t.Errorf("FROM build above the second build stage refers to %v, want stage 0", g.Stages[1].From)
	}
	late := g.Stages[3]
	if late.From.Stage != second {
		t.Errorf("FROM build below both refers to %v, want stage 2", late.From)
	}
	if got := late.Steps[0].From; got != second {
		t.Errorf("COPY --from=build refers to %v, want stage 2", got)
	}
	if got := late.Steps[1].MountStages; len(got) != 1 || got[0] != second {
		t.Errorf("RUN --mount from=build refers to %v, want stage 2", got)
	}
	var warnings []string
	for _, w := range g.Warnings {
		warnings = append(warnings, w.String())
	}
	eq(t, warnings, []string{
		`Dockerfile:4: StageNameCasing: Stage name 'BUILD' should be lowercase`,
		`Dockerfile:4: DuplicateStageName: Duplicate stage name "build", stage names should be unique`,
	})

	g = mustParse(t, df, Options{Target: "build"})
	if g.Target.Index != 2 {
		t.Errorf("--target build is stage %d, want 2", g.Target.Index)
	}
}
