package executor

import (
	"fmt"
	"io"
	"path/filepath"
	"strconv"

	"github.com/ocibuilder/builder/internal/cache"
	"github.com/ocibuilder/builder/pkg/parser"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
)

// stepID identifies a step across builds: the Dockerfile (by context
// directory and file name), the stage and the step's position in it.
func (b *builder) stepID(s *parser.Stage, kind string, i int, loc parser.Location) string {
	ctxDir, file := b.opts.Context, loc.File
	if abs, err := filepath.Abs(ctxDir); err == nil && ctxDir != "" {
		ctxDir = abs
	}
	if abs, err := filepath.Abs(file); err == nil && file != "" {
		file = abs
	}
	return cache.StepID(ctxDir, file, stageID(b.graph, s), kind, strconv.Itoa(i))
}

// stageID names a stage in step IDs: its label, plus its index when an
// earlier stage has the same name, so that the steps of two stages
// sharing a name do not explain their misses by each other's history.
func stageID(g *parser.Graph, s *parser.Stage) string {
	for _, o := range g.Stages[:s.Index] {
		if s.Name != "" && o.Name == s.Name {
			return stageLabel(s) + "#" + strconv.Itoa(s.Index)
		}
	}
	return stageLabel(s)
}

// noCache reports whether the stage's steps must run even when their
// results are cached, and the reason to show.
func (b *builder) noCache(s *parser.Stage) (bool, string) {
	if b.opts.NoCache {
		return true, "--no-cache"
	}
	for _, f := range b.opts.NoCacheFilter {
		if f == s.Name || f == strconv.Itoa(s.Index) {
			return true, "--no-cache-filter " + f
		}
	}
	return false, ""
}

// layerStep runs a filesystem step through the step cache. On a hit the
// recorded layer (or its absence) is appended to the stage without running
// exec; on a miss the progress output says why, exec runs, and its result
// is recorded. It reports whether the stage got a new layer.
func (b *builder) layerStep(ss *stageState, step *parser.Step, sr *stepRun, in cache.Input, files []cache.File, exec func() (bool, error)) (bool, error) {
	return b.keyedStep(ss, step, sr, in, files, false, exec)
}

// keyedStep is layerStep; linked steps (linkedLayerStep) are keyed and
// recorded without the layers below them.
func (b *builder) keyedStep(ss *stageState, step *parser.Step, sr *stepRun, in cache.Input, files []cache.File, linked bool, exec func() (bool, error)) (bool, error) {
	in = b.keyInput(ss, in, linked)
	key := in.Key()
	cur := &cache.Entry{Text: historyText(step), Key: key, Input: in, Files: files}
	last := b.cache.LastBuild(sr.sid)
	remember := func() {
		if last != nil && last.Key == key {
			b.cache.Used(sr.sid)
			return
		}
		if err := b.cache.SetLastBuild(sr.sid, cur); err != nil {
			fmt.Fprintf(sr, "warning: %v\n", err)
		}
	}
	skip, reason := b.noCache(step.Stage)
	if !skip {
		rec, hit, why, err := b.lookup(ss, key, linked, sr)
		if err != nil {
			return false, err
		}
		if hit {
			ss.keyChain = ss.keyChain.after(key, linked)
			if rec.Layer != nil {
				ss.appendLayer(*rec.Layer, rec.DiffID, "")
			}
			sr.event(StepCached, "")
			remember()
			return rec.Layer != nil, nil
		}
		reason = why
		if reason == "" {
			if last != nil && last.Input.Files != "" && last.Input.Files != in.Files {
				last.Files = b.cache.LastFiles(sr.sid)
			}
			reason = cache.Explain(last, cur)
		}
	}
	sr.event(StepCacheMiss, reason)
	changed, err := b.record(ss, key, linked, sr, exec)
	if err != nil {
		return false, err
	}
	remember()
	return changed, nil
}

// keyInput completes a step's cache input with what every step's key
// covers: the stage's filesystem so far, the platform, SOURCE_DATE_EPOCH
// and the layer encoding. A linked step's key leaves out the filesystem.
func (b *builder) keyInput(ss *stageState, in cache.Input, linked bool) cache.Input {
	if !linked {
		in.Parent = ss.key
		if ss.keyIsBase {
			in.Base = ss.base
		}
	}
	in.Platform = ss.platform()
	if e := b.opts.SourceDateEpoch; e != nil {
		in.Epoch = strconv.FormatInt(e.Unix(), 10)
	}
	in.Layer = b.opts.Compression.Compression.String()
	if l := b.opts.Compression.Level; l != 0 {
		in.Layer += "-" + strconv.Itoa(l)
	}
	return in
}

// lookup finds key's record and says whether it can be used: its layer is
// in the store and it was made on the layers the stage has now. When a
// record exists but cannot be used, why says so; a cache that cannot be
// read is a warning, not a failure. A linked step's record was made on
// no layers, as it is made now.
func (b *builder) lookup(ss *stageState, key digest.Digest, linked bool, log io.Writer) (rec cache.Record, hit bool, why string, err error) {
	rec, ok, err := b.cache.Get(key)
	if err != nil {
		fmt.Fprintf(log, "warning: %v\n", err)
	}
	if !ok || (rec.Layer != nil && !b.state.store.Has(rec.Layer.Digest)) {
		return rec, false, "", nil
	}
	below := chainOf(nil)
	if !linked {
		if below, err = b.chainBelow(ss); err != nil {
			return rec, false, "", err
		}
	}
	if rec.Below != below {
		return rec, false, "the layers below it changed since it was cached (an earlier step ran again and made other bytes)", nil
	}
	return rec, true, "", nil
}

// record runs a step that missed the cache and queues its result for the
// cache, stored at once unless layers are still being written.
func (b *builder) record(ss *stageState, key digest.Digest, linked bool, log io.Writer, exec func() (bool, error)) (bool, error) {
	below := len(ss.layers)
	if linked {
		below = 0
	}
	changed, err := exec()
	if err != nil {
		return false, err
	}
	q := queuedRecord{key: key, below: below, layer: -1}
	if changed {
		q.layer = len(ss.layers) - 1
	}
	ss.records = append(ss.records, q)
	if len(ss.pending) == 0 {
		if err := b.flushRecords(ss); err != nil {
			fmt.Fprintf(log, "warning: %v\n", err)
		}
	}
	ss.keyChain = ss.keyChain.after(key, linked)
	return changed, nil
}

// queuedRecord is a step result to record once the layers up to it are
// stored and their diff IDs known.
type queuedRecord struct {
	key   digest.Digest
	below int // layers of the stage under the step's own; 0 when linked
	layer int // index of the step's layer; -1 for none
}

// flushRecords stores the queued records of a stage whose layers are all
// settled.
func (b *builder) flushRecords(ss *stageState) error {
	var first error
	for _, q := range ss.records {
		rec := cache.Record{Key: q.key, Below: chainOf(ss.cfg.RootFS.DiffIDs[:q.below])}
		if q.layer >= 0 {
			l := ss.layers[q.layer]
			rec.Layer, rec.DiffID = &l, ss.cfg.RootFS.DiffIDs[q.layer]
		}
		if err := b.cache.Put(rec); err != nil && first == nil {
			first = err
		}
	}
	ss.records = nil
	return first
}

// chainBelow is the chain ID of the stage's layers so far, waiting for
// the ones still being written.
func (b *builder) chainBelow(ss *stageState) (digest.Digest, error) {
	if len(ss.pending) > 0 {
		if err := b.settle(ss); err != nil {
			return "", err
		}
	}
	return chainOf(ss.cfg.RootFS.DiffIDs), nil
}

// chainOf identifies a stack of layers by content: its chain ID, or the
// digest of nothing for an empty stack.
func chainOf(diffIDs []digest.Digest) digest.Digest {
	if len(diffIDs) == 0 {
		return digest.FromString("")
	}
	return identity.ChainID(diffIDs)
}
