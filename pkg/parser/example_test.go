package parser_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/ocibuilder/builder/pkg/parser"
)

func ExampleParse() {
	dockerfile := `ARG GO=1.22
FROM golang:${GO} AS build
RUN go build -o /app .

FROM alpine AS docs
RUN make docs

FROM gcr.io/distroless/static AS app
COPY --from=build /app /app
ENTRYPOINT ["/app"]
`
	g, err := parser.Parse(strings.NewReader(dockerfile), parser.Options{
		Target:    "app",
		BuildArgs: map[string]string{"GO": "1.23"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range g.Needed() {
		fmt.Printf("%s from %s at %s\n", s.Name, s.From.Image, s.Loc)
		for _, st := range s.Steps {
			fmt.Printf("  %s\n", st.Text)
		}
	}
	// Output:
	// build from golang:1.23 at Dockerfile:2
	//   RUN go build -o /app .
	// app from gcr.io/distroless/static at Dockerfile:8
	//   COPY --from=build /app /app
	//   ENTRYPOINT ["/app"]
}

func ExampleParse_error() {
	_, err := parser.Parse(strings.NewReader("FROM alpine\nRUNN true\n"), parser.Options{})
	fmt.Println(err)
	// Output:
	// Dockerfile:2: unknown instruction: RUNN (did you mean RUN?)
}

func ExampleStep_Expand() {
	g, err := parser.Parse(strings.NewReader("FROM alpine\nWORKDIR /src/${APP:-demo}\n"), parser.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	step := g.Target.Steps[0]
	cmd, err := step.Expand(shell.EnvsFromSlice([]string{"APP=api"}))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cmd.(*instructions.WorkdirCommand).Path)
	fmt.Println(step.Cmd.(*instructions.WorkdirCommand).Path)
	// Output:
	// /src/api
	// /src/${APP:-demo}
}

func ExampleParse_checks() {
	dockerfile := `# check=skip=MaintainerDeprecated
FROM alpine AS Build
MAINTAINER someone
CMD echo hi
`
	g, err := parser.Parse(strings.NewReader(dockerfile), parser.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("skipped:", g.Check.Skip)
	for _, w := range g.Warnings {
		fmt.Printf("%s %s (%s)\n", w.Loc, w.Rule, w.URL)
		fmt.Println("  " + w.Detail)
	}

	// With error=true the findings fail the parse.
	_, err = parser.Parse(strings.NewReader("# check=error=true\n"+dockerfile[strings.Index(dockerfile, "\n")+1:]), parser.Options{})
	fmt.Println(err)
	var ce *parser.CheckError
	if errors.As(err, &ce) {
		fmt.Println(len(ce.Warnings), "findings")
	}
	// Output:
	// skipped: [MaintainerDeprecated]
	// Dockerfile:2 StageNameCasing (https://docs.docker.com/go/dockerfile/rule/stage-name-casing/)
	//   Stage name 'Build' should be lowercase
	// Dockerfile:4 JSONArgsRecommended (https://docs.docker.com/go/dockerfile/rule/json-args-recommended/)
	//   JSON arguments recommended for CMD to prevent unintended behavior related to OS signals
	// Dockerfile:2: lint violation found for rules: JSONArgsRecommended, MaintainerDeprecated, StageNameCasing
	// 3 findings
}
