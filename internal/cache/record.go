package cache

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Record is what a step produced: its layer, or none when it changed
// nothing.
type Record struct {
	Key    digest.Digest       `json:"key"`
	Layer  *ocispec.Descriptor `json:"layer,omitempty"`
	DiffID digest.Digest       `json:"diffID,omitempty"`
	// Below is the chain ID of the layers the step ran on (that of no
	// layers for a step made apart from them, COPY --link). A step's key
	// names its parent step's inputs, not what the parent produced; when
	// a parent is run again (its record lost, or --no-cache-filter) and
	// produces other bytes, Below tells the records built on the old
	// bytes apart.
	Below digest.Digest `json:"below"`
}

func (c *Cache) recordPath(key digest.Digest) string {
	return filepath.Join(c.dir, "records", key.Encoded()+".json")
}

// ErrCorrupt is wrapped by Get for a record that cannot be used.
var ErrCorrupt = errors.New("unusable cache record")

// Get returns the record of key. ok is false when there is none; an error
// wrapping ErrCorrupt reports a record that exists but cannot be used, to
// be rebuilt like a missing one. A hit marks the record as used now, for
// size-bounded pruning.
func (c *Cache) Get(key digest.Digest) (rec Record, ok bool, err error) {
	if key.Validate() != nil {
		return Record{}, false, nil
	}
	rec, err = c.readRecord(key)
	if errors.Is(err, fs.ErrNotExist) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, fmt.Errorf("%w %s: %w", ErrCorrupt, key, err)
	}
	now := time.Now()
	os.Chtimes(c.recordPath(key), now, now) // best effort: only the prune order depends on it
	return rec, true, nil
}

// readRecord reads the record of key without marking it used.
func (c *Cache) readRecord(key digest.Digest) (Record, error) {
	raw, err := os.ReadFile(c.recordPath(key))
	if err != nil {
		return Record{}, err
	}
	var rec Record
	if err := json.Unmarshal(raw, &rec); err != nil {
		return Record{}, fmt.Errorf("it does not parse: %w", err)
	}
	if rec.Key != key || !rec.valid() {
		return Record{}, errors.New("it does not describe a layer")
	}
	return rec, nil
}

func (r Record) valid() bool {
	if r.Below != "" && r.Below.Validate() != nil {
		return false
	}
	if r.Layer == nil {
		return r.DiffID == ""
	}
	return r.Layer.Digest.Validate() == nil && r.DiffID.Validate() == nil && r.Layer.Size >= 0 && r.Layer.MediaType != ""
}

// Put stores rec under rec.Key, replacing an earlier record.
func (c *Cache) Put(rec Record) error {
	if err := rec.Key.Validate(); err != nil {
		return fmt.Errorf("storing cache record: %w", err)
	}
	if err := writeJSON(c.recordPath(rec.Key), rec); err != nil {
		return fmt.Errorf("storing cache record %s: %w", rec.Key, err)
	}
	return nil
}
