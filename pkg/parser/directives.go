package parser

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"unicode"

	bkparser "github.com/moby/buildkit/frontend/dockerfile/parser"
)

// directives holds the parser directives found at the top of a Dockerfile.
type directives struct {
	syntax string
	// check is the value of the `# check=` directive, found at checkLoc
	// (a zero Line when there is none).
	check    string
	checkLoc Location
}

// scanDirectives reads the leading `# key=value` lines the way BuildKit's
// parser does and validates them. BuildKit reports a bad directive one line
// early, so they are checked here first to get the line right.
func scanDirectives(dt []byte, file string) (directives, error) {
	var out directives
	var dp bkparser.DirectiveParser
	for i, line := range bytes.Split(dt, []byte("\n")) {
		if i == 0 {
			line = bytes.TrimPrefix(line, []byte{0xEF, 0xBB, 0xBF})
		}
		line = bytes.TrimRight(line, "\r\n")
		line = bytes.TrimLeftFunc(line, unicode.IsSpace)
		loc := Location{File: file, Line: i + 1, EndLine: i + 1}
		d, err := dp.ParseLine(line)
		if err != nil {
			return out, &Error{Loc: loc, Err: err}
		}
		if d == nil {
			break
		}
		switch d.Name {
		case "escape":
			if d.Value != "`" && d.Value != `\` {
				return out, &Error{Loc: loc, Err: fmt.Errorf("invalid escape token %q: must be ` or \\", d.Value)}
			}
		case "syntax":
			out.syntax = d.Value
		case "check":
			// BuildKit reads only the first space-separated token.
			out.check, _, _ = strings.Cut(d.Value, " ")
			out.checkLoc = loc
		}
	}
	return out, nil
}

// checkLineLengths rejects lines BuildKit's line scanner cannot hold. The
// scanner reports them at the previous line, so they are caught here.
func checkLineLengths(dt []byte, file string) error {
	for i, line := range bytes.Split(dt, []byte("\n")) {
		if len(line) >= bufio.MaxScanTokenSize {
			return &Error{
				Loc: Location{File: file, Line: i + 1, EndLine: i + 1},
				Err: fmt.Errorf("dockerfile line greater than max allowed size of %d", bufio.MaxScanTokenSize-1),
			}
		}
	}
	return nil
}
