package cachemount

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Usage describes one cache for prune: its identity, size on disk and
// last use.
type Usage struct {
	// ID is the cache's id; Scope its source, if any.
	ID, Scope string
	// Size is the bytes its files take, every instance counted.
	Size int64
	// LastUsed is when a step last acquired it.
	LastUsed time.Time
	dir      string
}

// List returns every cache of the area, most recently used first.
func (a *Area) List(ctx context.Context) ([]Usage, error) {
	ents, err := os.ReadDir(a.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing cache mounts: %w", err)
	}
	var out []Usage
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		u, err := usageOf(ctx, filepath.Join(a.dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("listing cache mounts: %w", err)
		}
		out = append(out, u)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].LastUsed.After(out[j].LastUsed) })
	return out, nil
}

// usageOf measures the cache in dir without following any symlink.
func usageOf(ctx context.Context, dir string) (Usage, error) {
	u := Usage{dir: dir}
	if raw, err := os.ReadFile(filepath.Join(dir, "meta.json")); err == nil {
		var m meta
		if json.Unmarshal(raw, &m) == nil {
			u.ID, u.Scope = m.ID, m.Scope
		}
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, ".lock") && filepath.Dir(p) == dir && fi.ModTime().After(u.LastUsed) {
			u.LastUsed = fi.ModTime()
		}
		if fi.Mode().IsRegular() {
			u.Size += fi.Size()
		}
		return nil
	})
	return u, err
}

// Remove deletes the cache u describes. Prune calls it only while it holds
// the state directory exclusively, so no step is using the cache.
func (a *Area) Remove(u Usage) error {
	if filepath.Dir(u.dir) != a.dir {
		return fmt.Errorf("removing cache mount %s: not in %s", u.ID, a.dir)
	}
	if err := os.RemoveAll(u.dir); err != nil {
		return fmt.Errorf("removing cache mount %s: %w", u.ID, err)
	}
	return nil
}
