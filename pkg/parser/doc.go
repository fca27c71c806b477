// Package parser turns a Dockerfile into a graph of build stages and steps.
//
// It relies on BuildKit's Dockerfile front end for lexing and for the typed
// instructions, and adds what a builder needs on top: global ARG resolution
// for FROM lines, stage references (FROM, COPY --from, RUN --mount from=),
// target selection with pruning of stages the target does not need, cycle
// detection, word expansion of a step on demand following BuildKit's rules,
// and BuildKit's build checks (lint rules) configured by the `# check=`
// directive (Graph.Warnings, Graph.Check, Step.ExpandChecked). Every error
// it returns is an *Error carrying the file and line.
package parser
