package executor

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	"github.com/ocibuilder/builder/pkg/parser"
	"golang.org/x/sync/errgroup"
)

// stageFuture is the result of a stage, available once done is closed.
type stageFuture struct {
	done chan struct{}
	ss   *stageState
	err  error
}

// runStages runs the stages the target needs, each in its own goroutine
// as soon as a job token is free, and returns the target's state. A stage
// that needs another one's result waits for it without holding a token.
// The first failure cancels the others.
func (b *builder) runStages(ctx context.Context) (*stageState, error) {
	needed := b.graph.Needed()
	b.stages = make(map[*parser.Stage]*stageFuture, len(needed))
	for _, s := range needed {
		b.stages[s] = &stageFuture{done: make(chan struct{})}
	}
	jobs := b.opts.Jobs
	if jobs <= 0 {
		jobs = runtime.NumCPU()
	}
	b.jobs = make(chan struct{}, jobs)
	// first is the error of the stage that failed first. It is set before
	// that stage's done channel closes: a stage reading the result only
	// fails after it, with "stage x failed", which errgroup could
	// otherwise report in its place.
	var mu sync.Mutex
	var first error
	fail := func(err error) error {
		mu.Lock()
		defer mu.Unlock()
		if first == nil {
			first = err
		}
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	for _, s := range needed {
		f := b.stages[s]
		g.Go(func() error {
			defer close(f.done)
			select {
			case b.jobs <- struct{}{}:
			case <-ctx.Done():
				f.err = ctx.Err()
				return fail(f.err)
			}
			defer func() { <-b.jobs }()
			f.ss, f.err = b.runStage(ctx, s)
			if f.err != nil {
				return fail(f.err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		mu.Lock()
		defer mu.Unlock()
		if first != nil {
			return nil, first
		}
		return nil, err
	}
	return b.stages[b.graph.Target].ss, nil
}

// stageResult returns the finished state of a stage another stage reads,
// waiting for it if needed. The caller holds a job token, which it gives
// back while it waits, so that the stage it waits for can run.
func (b *builder) stageResult(ctx context.Context, s *parser.Stage) (*stageState, error) {
	f, ok := b.stages[s]
	if !ok {
		return nil, fmt.Errorf("stage %s is not part of this build", stageLabel(s))
	}
	select {
	case <-f.done:
	default:
		<-b.jobs
		done := true
		select {
		case <-f.done:
		case <-ctx.Done():
			done = false
		}
		select {
		case b.jobs <- struct{}{}:
		case <-ctx.Done():
			// The token is owed: take it back once one is free,
			// so that the deferred release stays balanced.
			b.jobs <- struct{}{}
		}
		if !done {
			// The stage is still running: its result must not be
			// read until done is closed.
			return nil, ctx.Err()
		}
	}
	if f.err != nil {
		return nil, fmt.Errorf("stage %s failed", stageLabel(s))
	}
	if f.ss == nil {
		return nil, ctx.Err()
	}
	return f.ss, nil
}

// runStage runs a stage's steps and returns its finished state, with every
// layer stored.
func (b *builder) runStage(ctx context.Context, s *parser.Stage) (*stageState, error) {
	ss, err := b.steps(ctx, s)
	if ss != nil {
		// Even after a failure: the layers still being written must
		// be waited for before the scratch space goes.
		if serr := b.settle(ss); err == nil {
			err = serr
		}
	}
	if err != nil {
		return nil, err
	}
	return ss, nil
}

// steps resolves a stage's base and runs its triggers and steps. After a
// failure it still returns the stage, whose layers being written runStage
// must wait for.
func (b *builder) steps(ctx context.Context, s *parser.Stage) (*stageState, error) {
	label := stageLabel(s)
	var ss *stageState
	fromName := fmt.Sprintf("[%s] FROM %s", label, fromText(s))
	err := b.run(fromName, s.Loc, "", func(sr *stepRun) error {
		var err error
		ss, err = b.resolveBase(ctx, s, sr)
		return err
	})
	if err != nil {
		return nil, stepError(s.Loc, err)
	}
	triggers, err := s.TriggerSteps(ss.triggers)
	if err != nil {
		return ss, err
	}
	for i, step := range triggers {
		name := fmt.Sprintf("[%s ONBUILD] %s", label, oneLine(step.Text))
		sid := b.stepID(s, "onbuild", i, step.Loc)
		err := b.run(name, step.Loc, sid, func(sr *stepRun) error { return b.dispatch(ctx, ss, step, sr) })
		if err != nil {
			return ss, stepError(step.Loc, fmt.Errorf("ONBUILD trigger %s: %w", oneLine(step.Text), err))
		}
	}
	for i, step := range s.Steps {
		name := fmt.Sprintf("[%s %d/%d] %s", label, i+1, len(s.Steps), oneLine(step.Text))
		sid := b.stepID(s, "step", i, step.Loc)
		err := b.run(name, step.Loc, sid, func(sr *stepRun) error { return b.dispatch(ctx, ss, step, sr) })
		if err != nil {
			return ss, stepError(step.Loc, err)
		}
	}
	return ss, nil
}
