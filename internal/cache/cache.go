// Package cache stores the build's step cache in the state directory: one
// record per step key naming the layer the step produced, and, per
// Dockerfile step, the inputs of its most recent build, so that a cache
// miss can be explained by comparing the two.
//
//	cache/records/<key>.json   Record: the step's result, by key
//	cache/steps/<id>.json      Entry: the last inputs of one Dockerfile step
//
// Layers themselves are blobs of the content store; a record whose blob is
// gone, or a file that does not parse, is a miss and never an error.
package cache

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ocibuilder/builder/internal/fsutil"
)

// The package is split by job: key.go makes step keys, record.go stores
// what each key produced, history.go keeps each Dockerfile step's last
// inputs (explain.go compares them), and prune.go selects records to drop.

// Cache is the step cache under a state directory. It is safe for
// concurrent use by the goroutines of one build and by several builds:
// every file is replaced atomically.
type Cache struct {
	dir string
}

// Open returns the cache kept in dir, a state directory's cache directory
// (statedir.State.CacheDir), creating its directories.
func Open(dir string) (*Cache, error) {
	for _, d := range []string{"records", "steps"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("opening the build cache: %w", err)
		}
	}
	return &Cache{dir: dir}, nil
}

// Dir is the cache's directory.
func (c *Cache) Dir() string { return c.dir }

func readJSON(path string, v any) bool {
	raw, err := os.ReadFile(path)
	return err == nil && json.Unmarshal(raw, v) == nil
}

func writeJSON(path string, v any) error {
	return fsutil.WriteFileAtomic(path, 0o600, func(w io.Writer) error {
		return json.NewEncoder(w).Encode(v)
	})
}

// entries lists a directory of the cache; a missing one is empty.
func (c *Cache) entries(sub string) ([]os.DirEntry, error) {
	ents, err := os.ReadDir(filepath.Join(c.dir, sub))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return ents, err
}
