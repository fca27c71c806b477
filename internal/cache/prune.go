package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
)

// Usage is a record with its size and last use, for pruning.
type Usage struct {
	Record
	LastUsed time.Time
}

// List returns every readable record, most recently used first.
func (c *Cache) List() ([]Usage, error) {
	ents, err := c.entries("records")
	if err != nil {
		return nil, fmt.Errorf("listing the build cache: %w", err)
	}
	var out []Usage
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		rec, err := c.readRecord(digest.NewDigestFromEncoded(digest.SHA256, name))
		if err != nil {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, Usage{Record: rec, LastUsed: fi.ModTime()})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].LastUsed.After(out[j].LastUsed) })
	return out, nil
}

// Trim removes the records for which drop returns true, and every file
// that does not parse. It returns how many records it removed.
func (c *Cache) Trim(drop func(Record) bool) (int, error) {
	dir := filepath.Join(c.dir, "records")
	ents, err := c.entries("records")
	if err != nil {
		return 0, fmt.Errorf("trimming the build cache: %w", err)
	}
	n := 0
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if ok {
			if rec, err := c.readRecord(digest.NewDigestFromEncoded(digest.SHA256, name)); err == nil && !drop(rec) {
				continue
			}
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, fmt.Errorf("trimming the build cache: %w", err)
		}
		n++
	}
	return n, nil
}

// Keep selects what a size-bounded prune keeps: the layers of the most
// recently used records, as long as their blobs fit in limit bytes
// together. The two sequences fit images.PruneOptions' KeepBlobs and
// KeepLayerDirs; they read the records when first iterated, so that a
// prune reads them under its own lock.
func (c *Cache) Keep(limit int64) (blobs, diffIDs iter.Seq[digest.Digest]) {
	blobs, diffIDs, _ = c.KeepWith(limit, nil)
	return blobs, diffIDs
}

// Sized is something besides the records that a size-bounded prune may
// keep, such as a cache mount.
type Sized struct {
	Size     int64
	LastUsed time.Time
}

// KeepWith is Keep with others competing for the same limit: records and
// others together, most recently used first, are kept while they fit.
// kept reports whether others[i] is kept; it reads the records too when
// called first.
func (c *Cache) KeepWith(limit int64, others []Sized) (blobs, diffIDs iter.Seq[digest.Digest], kept func(i int) bool) {
	var once sync.Once
	var records []Record
	var keptOthers []bool
	pick := func() {
		list, err := c.List()
		if err != nil {
			list = nil // keeping no record is what a prune without a limit does
		}
		records, keptOthers = pickWithin(limit, list, others)
	}
	blobs = func(yield func(digest.Digest) bool) {
		once.Do(pick)
		for _, r := range records {
			if !yield(r.Layer.Digest) {
				return
			}
		}
	}
	diffIDs = func(yield func(digest.Digest) bool) {
		once.Do(pick)
		for _, r := range records {
			if !yield(r.DiffID) {
				return
			}
		}
	}
	kept = func(i int) bool {
		once.Do(pick)
		return keptOthers[i]
	}
	return blobs, diffIDs, kept
}

// KeepSized is KeepWith without records: which of others, most recently
// used first, fit in limit bytes together.
func KeepSized(limit int64, others []Sized) (kept func(i int) bool) {
	_, k := pickWithin(limit, nil, others)
	return func(i int) bool { return k[i] }
}

// pickWithin walks list (most recently used first) and others together by
// last use and keeps what fits in limit, stopping at the first that does
// not: a prune keeps the most recent, not the most.
func pickWithin(limit int64, list []Usage, others []Sized) (records []Record, kept []bool) {
	kept = make([]bool, len(others))
	order := make([]int, len(others))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return others[order[a]].LastUsed.After(others[order[b]].LastUsed) })
	var total int64
	for len(list) > 0 || len(order) > 0 {
		if len(order) == 0 || (len(list) > 0 && !others[order[0]].LastUsed.After(list[0].LastUsed)) {
			u := list[0]
			list = list[1:]
			if u.Layer == nil {
				continue
			}
			if total+u.Layer.Size > limit {
				return records, kept
			}
			total += u.Layer.Size
			records = append(records, u.Record)
			continue
		}
		o := order[0]
		order = order[1:]
		if total+others[o].Size > limit {
			return records, kept
		}
		total += others[o].Size
		kept[o] = true
	}
	return records, kept
}
