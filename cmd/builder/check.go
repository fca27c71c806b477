package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ocibuilder/builder/pkg/parser"
)

// runCheck is `builder build --check`: it runs the build checks on the
// Dockerfile without building, and without touching the state directory,
// and reports the findings on w as docker buildx does: text, or one JSON
// "warning" event per finding with --progress json. Like buildx it fails
// (exit status 1) when there are findings, with the check error when the
// configuration says error=true.
func runCheck(ctx context.Context, w io.Writer, in *buildInputs, mode string) error {
	g, err := parser.Parse(bytes.NewReader(in.dockerfile), in.parse)
	var findings []parser.Warning
	var ce *parser.CheckError
	switch {
	case errors.As(err, &ce):
		findings = ce.Warnings
	case err != nil:
		return err
	default:
		for _, w := range g.Warnings {
			if w.Rule != "" {
				findings = append(findings, w)
			}
		}
	}
	if mode == "json" {
		p := newProgress(ctx, w, mode, false)
		for _, f := range findings {
			p.warning(f)
		}
	} else {
		printCheckReport(w, findings, in.dockerfile)
	}
	if err != nil {
		return err
	}
	if len(findings) > 0 {
		return errReported
	}
	return nil
}

// printCheckReport writes the findings with the Dockerfile lines they are
// about, in buildx's layout.
func printCheckReport(w io.Writer, findings []parser.Warning, src []byte) {
	switch len(findings) {
	case 0:
		fmt.Fprintln(w, "Check complete, no warnings found.")
		return
	case 1:
		fmt.Fprintln(w, "Check complete, 1 warning has been found!")
	default:
		fmt.Fprintf(w, "Check complete, %d warnings have been found!\n", len(findings))
	}
	for _, f := range findings {
		fmt.Fprintf(w, "\nWARNING: %s - %s\n%s\n", f.Rule, f.URL, f.Detail)
		printSource(w, src, f.Loc)
	}
}

// printSource shows the lines of src around loc, marking loc's own.
func printSource(w io.Writer, src []byte, loc parser.Location) {
	fmt.Fprintln(w, loc)
	lines := strings.Split(strings.TrimSuffix(string(src), "\n"), "\n")
	if loc.Line <= 0 || loc.Line > len(lines) {
		return
	}
	const around = 2
	first, last := max(loc.Line-around, 1), min(max(loc.EndLine, loc.Line)+around, len(lines))
	fmt.Fprintln(w, "--------------------")
	for i := first; i <= last; i++ {
		mark := "   "
		if i >= loc.Line && i <= max(loc.EndLine, loc.Line) {
			mark = ">>>"
		}
		fmt.Fprintf(w, " %3d | %s %s\n", i, mark, strings.TrimSuffix(lines[i-1], "\r"))
	}
	fmt.Fprintln(w, "--------------------")
}

// reportCheckFailure shows on w the findings behind err when it is the
// failure of a Dockerfile whose check configuration says error=true, so
// that the build's error names the rules and the output shows each
// finding; it returns err.
func reportCheckFailure(ctx context.Context, w io.Writer, f buildFlags, err error) error {
	var ce *parser.CheckError
	if errors.As(err, &ce) {
		p := newProgress(ctx, w, f.progress, f.quiet)
		for _, finding := range ce.Warnings {
			p.warning(finding)
		}
		p.close()
	}
	return err
}
