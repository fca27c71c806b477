package parser

import (
	"errors"
	"fmt"
	"strconv"

	bkparser "github.com/moby/buildkit/frontend/dockerfile/parser"
)

// Location is a span of lines in a Dockerfile. Line is 1-based; a zero Line
// means the location is the file as a whole.
type Location struct {
	File    string
	Line    int
	EndLine int
}

// String formats the location as "file:line", or just "file" when the
// location does not point at a line.
func (l Location) String() string {
	if l.Line <= 0 {
		return l.File
	}
	return l.File + ":" + strconv.Itoa(l.Line)
}

// Error is an error tied to a place in a Dockerfile.
type Error struct {
	Loc Location
	Err error
}

// Error formats the error as "Dockerfile:7: message".
func (e *Error) Error() string {
	if e.Err == nil {
		return e.Loc.String()
	}
	return e.Loc.String() + ": " + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Warning is a non-fatal finding about a Dockerfile: a build check (one of
// BuildKit's lint rules) or an unused build argument.
type Warning struct {
	// Loc is where the finding is; a zero Line means the file as a whole.
	Loc Location
	// Message is "Rule: Detail" for a build check, else the finding.
	Message string
	// Rule names the build check ("JSONArgsRecommended"); "" for a
	// finding that is not one.
	Rule string
	// Description is the rule's general description.
	Description string
	// Detail describes this finding.
	Detail string
	// URL documents the rule.
	URL string
}

// String formats the warning as "Dockerfile:7: message".
func (w Warning) String() string {
	return w.Loc.String() + ": " + w.Message
}

// TargetNotFoundError reports that the requested --target names no stage.
type TargetNotFoundError struct {
	Name string
}

// Error formats the error the way docker does.
func (e *TargetNotFoundError) Error() string {
	return fmt.Sprintf("target stage %q could not be found", e.Name)
}

// locationFromRanges converts BuildKit's per-line ranges into a Location.
func locationFromRanges(file string, r []bkparser.Range) Location {
	loc := Location{File: file}
	for _, rg := range r {
		if loc.Line == 0 || (rg.Start.Line > 0 && rg.Start.Line < loc.Line) {
			loc.Line = rg.Start.Line
		}
		if rg.End.Line > loc.EndLine {
			loc.EndLine = rg.End.Line
		}
	}
	if loc.Line < 0 {
		loc.Line = 0
	}
	if loc.EndLine < loc.Line {
		loc.EndLine = loc.Line
	}
	return loc
}

// locate wraps err in an *Error. The location BuildKit attached to err wins
// over fallback because it is the most precise one available.
func locate(file string, err error, fallback Location) *Error {
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	loc := fallback
	var le *bkparser.LocationError
	if errors.As(err, &le) && len(le.Locations) > 0 {
		if l := locationFromRanges(file, le.Locations[0]); l.Line > 0 {
			loc = l
		}
	}
	loc.File = file
	return &Error{Loc: loc, Err: err}
}

// ranges converts l back into BuildKit's per-line ranges.
func (l Location) ranges() []bkparser.Range {
	end := max(l.EndLine, l.Line)
	var r []bkparser.Range
	for i := l.Line; i <= end; i++ {
		r = append(r, bkparser.Range{Start: bkparser.Position{Line: i}, End: bkparser.Position{Line: i}})
	}
	return r
}
