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
	var once sync.Once
	var kept []Record
	pick := func() {
		list, err := c.List()
		if err != nil {
			return // keeping nothing is what a prune without a limit does
		}
		var total int64
		for _, u := range list {
			if u.Layer == nil {
				continue
			}
			if total+u.Layer.Size > limit {
				break
			}
			total += u.Layer.Size
			kept = append(kept, u.Record)
		}
	}
	blobs = func(yield func(digest.Digest) bool) {
		once.Do(pick)
		for _, r := range kept {
			if !yield(r.Layer.Digest) {
				return
			}
		}
	}
	diffIDs = func(yield func(digest.Digest) bool) {
		once.Do(pick)
		for _, r := range kept {
			if !yield(r.DiffID) {
				return
			}
		}
	}
	return blobs, diffIDs
}
