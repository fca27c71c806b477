package parser

import (
	"slices"
	"sort"
	"strconv"
	"sync"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	bkparser "github.com/moby/buildkit/frontend/dockerfile/parser"
)

// Graph is a parsed Dockerfile: its stages, the stage to build and the
// build-argument context needed to evaluate ARG instructions.
type Graph struct {
	// Stages holds every stage in file order.
	Stages []*Stage
	// Target is the stage to build.
	Target *Stage
	// Escape is the escape character chosen by the `# escape=` directive.
	Escape rune
	// Syntax is the value of the `# syntax=` directive, if any. It is
	// recorded but has no effect on parsing.
	Syntax string
	// Warnings collects the findings of the build checks run while
	// parsing, in file order, then the unused build arguments.
	Warnings []Warning
	// Check is the build-check configuration in effect.
	Check CheckConfig

	file      string
	buildArgs map[string]string
	globals   *argEnv // predefined args overlaid by the resolved global ARGs

	mu       sync.Mutex // guards consumed; executors may run stages concurrently
	consumed map[string]bool
}

// Stage is one FROM section of a Dockerfile.
type Stage struct {
	// Index is the position of the stage in the file, starting at 0.
	Index int
	// Name is the lower-cased name given with AS, or "" when unnamed.
	Name string
	// From is the base of the stage.
	From From
	// Platform is the expanded --platform of the FROM line, "" if none.
	Platform string
	// Steps holds the instructions after FROM, in order.
	Steps []*Step
	// Deps lists the stages this one needs (its FROM stage, COPY --from and
	// RUN --mount from= sources), each once, in order of first reference.
	Deps []*Stage
	// Loc is the FROM line.
	Loc Location

	graph       *Graph
	rawBase     string   // FROM image before expansion
	rawPlatform string   // FROM --platform before expansion
	origCmd     string   // FROM as written, for ConsistentInstructionCasing
	comments    []string // the comment lines right above FROM
	edges       []edge   // every reference to another stage, for cycle reports
}

// edge is one reference from a stage to another stage.
type edge struct {
	to  *Stage
	loc Location
}

// From is the base of a stage; exactly one field is set.
type From struct {
	// Image is the base image (or named build context) after global ARG
	// expansion.
	Image string
	// Stage is the earlier stage this one builds on.
	Stage *Stage
	// Scratch is set for `FROM scratch`.
	Scratch bool
}

// Step is one instruction inside a stage.
type Step struct {
	// Stage is the stage holding the step.
	Stage *Stage
	// Index is the position of the step within its stage, starting at 0.
	Index int
	// Cmd is the typed instruction with its words not yet expanded.
	Cmd instructions.Command
	// Loc spans the instruction, including continuation lines and heredoc
	// bodies.
	Loc Location
	// Text is the instruction's source text as BuildKit recorded it.
	Text string
	// From is the stage named by COPY --from, or by the first RUN --mount
	// from= that names a stage; nil otherwise.
	From *Stage
	// FromRef is the COPY --from value when it names an image or build
	// context rather than a stage; "" otherwise.
	FromRef string
	// MountStages has one entry per RUN --mount, in order: the stage its
	// from= names, or nil.
	MountStages []*Stage

	node *bkparser.Node
}

// Needed returns the stages the target depends on, directly or not, followed
// by the target itself. Dependencies come before the stages that need them
// and every stage appears once.
func (g *Graph) Needed() []*Stage {
	if g.Target == nil {
		return nil
	}
	var out []*Stage
	seen := map[*Stage]bool{}
	var visit func(s *Stage)
	visit = func(s *Stage) {
		if seen[s] {
			return
		}
		seen[s] = true
		for _, d := range s.Deps {
			visit(d)
		}
		out = append(out, s)
	}
	visit(g.Target)
	return out
}

// StageArg returns the value an `ARG name` without a default takes inside a
// stage: the build argument if given, else the global ARG's resolved value,
// else the automatic platform argument. A returned build argument counts as
// consumed.
func (g *Graph) StageArg(name string) (string, bool) {
	if v, ok := g.BuildArg(name); ok {
		return v, true
	}
	if g.globals == nil {
		return "", false
	}
	return g.globals.Get(name)
}

// BuildArg returns the --build-arg value for name and marks it consumed.
func (g *Graph) BuildArg(name string) (string, bool) {
	v, ok := g.buildArgs[name]
	if ok {
		g.mu.Lock()
		g.consumed[name] = true
		g.mu.Unlock()
	}
	return v, ok
}

// UnconsumedBuildArgs lists, sorted, the build arguments neither declared by
// an ARG the parser saw in a needed stage or before the first FROM, nor
// returned by BuildArg or StageArg since. Automatic platform and proxy
// arguments never appear.
func (g *Graph) UnconsumedBuildArgs() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for k := range g.buildArgs {
		if !g.consumed[k] && !isImplicitArg(k) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// Global returns the value of a variable visible to FROM lines: a global ARG
// after build-argument overrides, or an automatic platform argument.
func (g *Graph) Global(name string) (string, bool) {
	if g.globals == nil {
		return "", false
	}
	return g.globals.Get(name)
}

// addDep records that s needs dep because of the instruction at loc.
func (s *Stage) addDep(dep *Stage, loc Location) {
	s.edges = append(s.edges, edge{to: dep, loc: loc})
	if !slices.Contains(s.Deps, dep) {
		s.Deps = append(s.Deps, dep)
	}
}

// displayName is how messages refer to the stage.
func (s *Stage) displayName() string {
	if s.Name != "" {
		return s.Name
	}
	return "stage-" + strconv.Itoa(s.Index)
}
