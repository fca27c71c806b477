package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ocibuilder/builder/pkg/executor"
	"github.com/ocibuilder/builder/pkg/parser"
	"golang.org/x/term"
)

// progress renders build events: a live view redrawn in place on a
// terminal, or plain numbered lines for logs and CI.
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	tty     bool
	json    *json.Encoder
	quiet   bool
	running map[int]*vertex
	drawn   int // lines of the live view currently on screen
	stop    chan struct{}
	stopped sync.WaitGroup
	closed  bool
	// ctx is the command's context: once a signal has cancelled it, a
	// step that failed for that reason is shown as interrupted.
	ctx context.Context
	// unfinished holds the steps started and not done (running or
	// failed), by ID, for the error of an interrupted build.
	unfinished map[int]executor.Event
}

type vertex struct {
	name   string
	start  time.Time
	cached bool
}

func newProgress(ctx context.Context, w io.Writer, mode string, quiet bool) *progress {
	p := &progress{w: w, quiet: quiet, running: map[int]*vertex{}, stop: make(chan struct{}),
		ctx: ctx, unfinished: map[int]executor.Event{}}
	switch mode {
	case "json":
		p.json = json.NewEncoder(w)
	case "tty":
		p.tty = true
	case "auto", "":
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) && os.Getenv("TERM") != "dumb" {
			p.tty = true
		}
	}
	if p.tty && !quiet {
		p.stopped.Add(1)
		go p.tick()
	}
	return p
}

// Event implements executor.Progress.
func (p *progress) Event(e executor.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e.Kind {
	case executor.StepStarted:
		p.unfinished[e.ID] = e
	case executor.StepDone:
		delete(p.unfinished, e.ID)
	case executor.StepFailed:
		if sig := interruption(p.ctx); sig != nil && errors.Is(e.Err, context.Canceled) {
			e.Err = sig
		}
	}
	if p.quiet {
		return
	}
	switch {
	case e.Kind == executor.StepWarning && e.Warning != nil:
		p.writeFinding(*e.Warning, e.ID)
		return
	case p.json != nil:
		p.jsonEvent(e)
		return
	case p.tty:
		p.ttyEvent(e)
		return
	}
	switch e.Kind {
	case executor.StepStarted:
		fmt.Fprintf(p.w, "#%d %s\n", e.ID, e.Name)
	case executor.StepCached:
		fmt.Fprintf(p.w, "#%d CACHED\n", e.ID)
	case executor.StepCacheMiss:
		fmt.Fprintf(p.w, "#%d cache miss: %s\n", e.ID, e.Reason)
	case executor.StepLog:
		for _, line := range strings.SplitAfter(string(e.Data), "\n") {
			if line != "" {
				fmt.Fprintf(p.w, "#%d %s", e.ID, strings.TrimSuffix(line, "\n")+"\n")
			}
		}
	case executor.StepDone:
		fmt.Fprintf(p.w, "#%d DONE %.1fs\n", e.ID, e.Duration.Seconds())
	case executor.StepFailed:
		fmt.Fprintf(p.w, "#%d ERROR: %v\n", e.ID, e.Err)
	}
}

// jsonEvent is one line of --progress json.
type jsonEvent struct {
	ID       int     `json:"id"`
	Kind     string  `json:"kind"`
	Name     string  `json:"name,omitempty"`
	File     string  `json:"file,omitempty"`
	Line     int     `json:"line,omitempty"`
	Duration float64 `json:"duration,omitempty"` // seconds
	Error    string  `json:"error,omitempty"`
	Log      string  `json:"log,omitempty"`
	Cached   bool    `json:"cached,omitempty"`
	// CacheMiss says why the step runs instead of using its cached
	// result.
	CacheMiss string `json:"cacheMiss,omitempty"`
	// Rule, URL and Message describe a build-check finding (kind
	// "warning"), located by File and Line.
	Rule    string `json:"rule,omitempty"`
	URL     string `json:"url,omitempty"`
	Message string `json:"message,omitempty"`
}

func kindName(k executor.EventKind) string {
	switch k {
	case executor.StepStarted:
		return "started"
	case executor.StepDone:
		return "done"
	case executor.StepFailed:
		return "failed"
	case executor.StepLog:
		return "log"
	case executor.StepCached:
		return "cached"
	case executor.StepCacheMiss:
		return "cache-miss"
	}
	return fmt.Sprintf("kind-%d", k)
}

func (p *progress) jsonEvent(e executor.Event) {
	je := jsonEvent{ID: e.ID, Kind: kindName(e.Kind), Log: string(e.Data), CacheMiss: e.Reason, Cached: e.Kind == executor.StepCached}
	if e.Kind == executor.StepStarted {
		je.Name, je.File, je.Line = e.Name, e.Loc.File, e.Loc.Line
	}
	if e.Kind == executor.StepDone || e.Kind == executor.StepFailed {
		je.Duration = e.Duration.Seconds()
	}
	if e.Err != nil {
		je.Error = e.Err.Error()
	}
	p.json.Encode(je)
}

func (p *progress) ttyEvent(e executor.Event) {
	switch e.Kind {
	case executor.StepStarted:
		p.running[e.ID] = &vertex{name: e.Name, start: time.Now()}
	case executor.StepCached:
		if v := p.running[e.ID]; v != nil {
			v.cached = true
		}
	case executor.StepLog:
		p.clear()
		fmt.Fprintf(p.w, "   %s", string(e.Data))
		if !strings.HasSuffix(string(e.Data), "\n") {
			fmt.Fprintln(p.w)
		}
	case executor.StepDone, executor.StepFailed:
		cached := p.running[e.ID] != nil && p.running[e.ID].cached
		delete(p.running, e.ID)
		p.clear()
		status := fmt.Sprintf("%.1fs", e.Duration.Seconds())
		name := e.Name
		switch {
		case e.Kind == executor.StepFailed:
			status = "ERROR"
		case cached:
			name = "CACHED " + name
		}
		fmt.Fprintf(p.w, "\033[36m=>\033[0m %-70s %s\n", name, status)
	}
	p.draw()
}

// clear erases the live view so that permanent lines can be printed.
func (p *progress) clear() {
	for ; p.drawn > 0; p.drawn-- {
		fmt.Fprint(p.w, "\033[1A\033[2K")
	}
}

func (p *progress) draw() {
	p.clear()
	ids := make([]int, 0, len(p.running))
	for id := range p.running {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		v := p.running[id]
		fmt.Fprintf(p.w, "\033[33m=>\033[0m %-70s %.1fs\n", v.name, time.Since(v.start).Seconds())
		p.drawn++
	}
}

func (p *progress) tick() {
	defer p.stopped.Done()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			if len(p.running) > 0 {
				p.draw()
			}
			p.mu.Unlock()
		}
	}
}

func (p *progress) warn(msg string) {
	if p.quiet {
		return
	}
	p.line("WARNING: " + msg)
}

func (p *progress) info(msg string) {
	if p.quiet {
		return
	}
	p.line(msg)
}

// warning shows a finding of the parser: a build check, or a warning such
// as an unused build argument.
func (p *progress) warning(w parser.Warning) {
	if p.quiet {
		return
	}
	if w.Rule == "" {
		p.warn(w.String())
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.writeFinding(w, 0)
}

// writeFinding shows a build-check finding, of step id (0 for none), as
// "WARN: Rule: detail (Dockerfile:3)" or as a JSON "warning" event. The
// caller holds p.mu.
func (p *progress) writeFinding(w parser.Warning, id int) {
	if p.json != nil {
		p.json.Encode(jsonEvent{ID: id, Kind: "warning", File: w.Loc.File, Line: w.Loc.Line, Rule: w.Rule, URL: w.URL, Message: w.Detail})
		return
	}
	p.lineLocked(fmt.Sprintf("WARN: %s: %s (%s)", w.Rule, w.Detail, w.Loc))
}

func (p *progress) line(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lineLocked(msg)
}

// lineLocked is line for a caller that holds p.mu.
func (p *progress) lineLocked(msg string) {
	if p.json != nil {
		p.json.Encode(jsonEvent{Kind: "message", Log: msg})
		return
	}
	if p.tty {
		p.clear()
		fmt.Fprintln(p.w, msg)
		p.draw()
		return
	}
	fmt.Fprintln(p.w, msg)
}

// unfinishedSteps returns the steps that started and did not finish, in
// the order they started, as "Dockerfile:5 RUN sleep 100".
func (p *progress) unfinishedSteps() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]int, 0, len(p.unfinished))
	for id := range p.unfinished {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	steps := make([]string, 0, len(ids))
	for _, id := range ids {
		e := p.unfinished[id]
		// Drop the display prefix ("[stage 2/5] ") that the location
		// replaces.
		name := e.Name
		if strings.HasPrefix(name, "[") {
			if _, rest, ok := strings.Cut(name, "] "); ok {
				name = rest
			}
		}
		if loc := e.Loc.String(); loc != "" {
			name = loc + " " + name
		}
		steps = append(steps, name)
	}
	return steps
}

// close stops the live view; it may be called more than once.
func (p *progress) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	if p.tty && !p.quiet {
		close(p.stop)
		p.stopped.Wait()
	}
}
