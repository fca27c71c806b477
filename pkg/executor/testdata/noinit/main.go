// Command noinit is a library user that forgets sandbox.Init: it prints a
// line as main starts, then builds a Dockerfile with a RUN step and prints
// the step's output. Without a check in Build, the RUN step's sandbox child
// would run this main again, and the line would appear twice.
//
// Usage: noinit STATE-DIR
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/ocibuilder/builder/pkg/executor"
	"github.com/ocibuilder/builder/pkg/parser"
)

func main() {
	fmt.Println("noinit: main started")
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: noinit STATE-DIR")
		os.Exit(2)
	}
	if err := build(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "noinit:", err)
		os.Exit(1)
	}
	fmt.Println("noinit: built")
}

// build runs a one-RUN-step build with its state under root.
func build(root string) error {
	g, err := parser.Parse(strings.NewReader("FROM scratch\nRUN [\"/nothing\"]\n"), parser.Options{Filename: "Dockerfile"})
	if err != nil {
		return fmt.Errorf("parsing: %w", err)
	}
	progress := executor.FuncProgress(func(e executor.Event) {
		if e.Kind == executor.StepLog {
			os.Stdout.Write(e.Data)
		}
	})
	_, err = executor.Build(context.Background(), g, executor.Options{Root: root, Progress: progress})
	return err
}
