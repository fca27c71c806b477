package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// Entry is the last build of one Dockerfile step: its instruction text,
// key inputs and (for COPY/ADD from the context) the files it read.
type Entry struct {
	Text  string        `json:"text"`
	Key   digest.Digest `json:"key"`
	Input Input         `json:"input"`
	Files []File        `json:"files,omitempty"`
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
