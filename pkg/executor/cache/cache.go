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
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ocibuilder/builder/internal/fsutil"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Version is part of every key. It changes whenever what a step produces
// for the same inputs changes (layer format, compression defaults), which
// retires all earlier records at once.
const Version = 2

// Input is the preimage of a step key: everything the step's result
// depends on. Its canonical JSON, hashed, is the key.
type Input struct {
	Version int `json:"v"`
	// Parent is the key of the stage's previous layer step, or the
	// identity of the stage's base for the first one.
	Parent digest.Digest `json:"parent"`
	// Base names the stage's base for its first layer step
	// ("busybox@sha256:…", "scratch", "stage build"); empty otherwise.
	Base string `json:"base,omitempty"`
	// Op is the instruction: RUN, COPY, ADD or WORKDIR.
	Op string `json:"op"`
	// Args are the expanded words and result-affecting flags.
	Args []string `json:"args"`
	// BuildArgs are the stage's ARGs the step sees, NAME=value.
	BuildArgs []string `json:"buildArgs,omitempty"`
	// Env, User, Workdir and Platform are the parts of the image config
	// the step depends on.
	Env      []string `json:"env,omitempty"`
	User     string   `json:"user,omitempty"`
	Workdir  string   `json:"workdir,omitempty"`
	Platform string   `json:"platform,omitempty"`
	Network  string   `json:"network,omitempty"`
	// Sources are the identities of what a COPY or ADD reads other than
	// context files: "stage NAME KEY", "image NAME DIGEST", "url URL
	// DIGEST".
	Sources []string `json:"sources,omitempty"`
	// Files digests the list of context files the step copies, with
	// their content and image-visible metadata; see FilesDigest.
	Files digest.Digest `json:"files,omitempty"`
	// Epoch is SOURCE_DATE_EPOCH (Unix seconds), which clamps the
	// layer's mtimes; empty when unset.
	Epoch string `json:"epoch,omitempty"`
	// Layer is the layer encoding: compression and level ("gzip",
	// "zstd-3"), since an output never recompresses a cached layer.
	Layer string `json:"layer,omitempty"`
}

// Key is the step key of in: sha256 of its canonical JSON.
func (in *Input) Key() digest.Digest {
	in.Version = Version
	raw, err := json.Marshal(in)
	if err != nil {
		// Input holds only strings and slices of them.
		panic(fmt.Sprintf("encoding a cache key: %v", err))
	}
	return digest.FromBytes(raw)
}

// File is one context entry a COPY or ADD reads, as it will land.
type File struct {
	Path   string        `json:"p"`
	Mode   uint32        `json:"m"` // fs.FileMode bits, after --chmod
	Link   string        `json:"l,omitempty"`
	Digest digest.Digest `json:"d,omitempty"` // regular files
}

// FilesDigest digests a file list in order.
func FilesDigest(files []File) digest.Digest {
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%q %o %q %s\n", f.Path, f.Mode, f.Link, f.Digest)
	}
	return digest.NewDigest(digest.SHA256, h)
}

// Record is what a step produced: its layer, or none when it changed
// nothing.
type Record struct {
	Key    digest.Digest       `json:"key"`
	Layer  *ocispec.Descriptor `json:"layer,omitempty"`
	DiffID digest.Digest       `json:"diffID,omitempty"`
	// Below is the chain ID of the layers the step ran on. A step's key
	// names its parent step's inputs, not what the parent produced; when
	// a parent is run again (its record lost, or --no-cache-filter) and
	// produces other bytes, Below tells the records built on the old
	// bytes apart.
	Below digest.Digest `json:"below"`
}

// Entry is the last build of one Dockerfile step: its instruction text,
// key inputs and (for COPY/ADD from the context) the files it read.
type Entry struct {
	Text  string        `json:"text"`
	Key   digest.Digest `json:"key"`
	Input Input         `json:"input"`
	Files []File        `json:"files,omitempty"`
}

// Cache is the step cache under a state directory. It is safe for
// concurrent use by the goroutines of one build and by several builds:
// every file is replaced atomically.
type Cache struct {
	dir string
}

// Open returns the cache of the state directory root, creating its
// directories.
func Open(root string) (*Cache, error) {
	dir := filepath.Join(root, "cache")
	for _, d := range []string{"records", "steps"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("opening the build cache: %w", err)
		}
	}
	return &Cache{dir: dir}, nil
}

// Dir is the cache's directory.
func (c *Cache) Dir() string { return c.dir }

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

// StepID identifies a Dockerfile step across builds: the same Dockerfile
// (by context directory and file name), stage and position.
func StepID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%q\n", p)
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

func (c *Cache) stepPath(id string) string {
	return filepath.Join(c.dir, "steps", id+".json")
}

// LastBuild returns the last recorded build of the step id, without its
// file list (see LastFiles); nil when there is none or it cannot be read.
func (c *Cache) LastBuild(id string) *Entry {
	var e Entry
	if !readJSON(c.stepPath(id), &e) {
		return nil
	}
	e.Files = nil
	return &e
}

// LastFiles returns the file list of the last recorded build of the step
// id; nil when there is none.
func (c *Cache) LastFiles(id string) []File {
	var files []File
	readJSON(c.filesPath(id), &files)
	return files
}

func (c *Cache) filesPath(id string) string {
	return filepath.Join(c.dir, "steps", id+".files.json")
}

// SetLastBuild records e as the last build of the step id. The file list
// is kept apart, so that a cache hit reads only the small part.
func (c *Cache) SetLastBuild(id string, e *Entry) error {
	if e.Files != nil {
		if err := writeJSON(c.filesPath(id), e.Files); err != nil {
			return fmt.Errorf("recording step inputs: %w", err)
		}
	} else if err := os.Remove(c.filesPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("recording step inputs: %w", err)
	}
	small := *e
	small.Files = nil
	if err := writeJSON(c.stepPath(id), &small); err != nil {
		return fmt.Errorf("recording step inputs: %w", err)
	}
	return nil
}

// Used marks the last build of the step id as still in use, for
// TrimSteps.
func (c *Cache) Used(id string) {
	now := time.Now()
	os.Chtimes(c.stepPath(id), now, now) // best effort: only TrimSteps reads it
}

// TrimSteps removes the last builds of steps not built for maxAge; a
// later miss of such a step is explained as its first build. It returns
// how many steps it forgot.
func (c *Cache) TrimSteps(maxAge time.Duration) (int, error) {
	ents, err := c.entries("steps")
	if err != nil {
		return 0, fmt.Errorf("trimming the build cache: %w", err)
	}
	n := 0
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || strings.HasSuffix(id, ".files") {
			continue
		}
		fi, err := e.Info()
		if err != nil || time.Since(fi.ModTime()) < maxAge {
			continue
		}
		for _, p := range []string{c.stepPath(id), c.filesPath(id)} {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return n, fmt.Errorf("trimming the build cache: %w", err)
			}
		}
		n++
	}
	return n, nil
}

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
