// Package cachemount keeps the directories of RUN --mount=type=cache: one
// per cache id, in the state directory, kept across builds and shared
// between concurrent steps as their sharing mode asks. Cache contents are
// never part of a layer, a config or a history: a step sees them only
// while it runs.
//
// A cache's directory is named by a digest of its id, so no id (with
// "../", an absolute path or anything else) names a path outside the
// area. The builder never follows a symlink inside a cache: it creates
// the cache's root itself, measures it with lstat and removes it without
// following links; the step resolves links inside its own root.
package cachemount

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ocibuilder/builder/internal/fsutil"
)

// Sharing is how concurrent steps share one cache (BuildKit's sharing=).
type Sharing string

const (
	// Shared lets every step use the cache at once (the default).
	Shared Sharing = "shared"
	// Private gives a step the cache alone: when another step uses it,
	// the step gets another instance of the cache, made empty (or from
	// its source) the first time and kept like the first.
	Private Sharing = "private"
	// Locked makes a step wait until no other step uses the cache.
	Locked Sharing = "locked"
)

// ParseSharing parses a sharing= value; empty means Shared.
func ParseSharing(s string) (Sharing, error) {
	switch Sharing(s) {
	case "", Shared:
		return Shared, nil
	case Private, Locked:
		return Sharing(s), nil
	}
	return "", fmt.Errorf("unknown sharing mode %q (want shared, private or locked)", s)
}

// Spec names a cache and says how a new one starts.
type Spec struct {
	// ID names the cache (id=, by default the mount's target).
	ID string
	// Scope is part of the cache's identity besides ID: the source a
	// cache with from= starts from, so that two sources never share one.
	Scope string
	// Sharing is how concurrent steps share it.
	Sharing Sharing
	// Mode, UID and GID are given to a new cache's root directory.
	Mode     fs.FileMode
	UID, GID int
	// Populate, when set, fills a new cache's root directory dir before
	// any step sees it (from= and source=).
	Populate func(dir string) error
}

// Area is the directory holding every cache.
type Area struct {
	dir string
}

// Open returns the area at dir, created on first use.
func Open(dir string) *Area { return &Area{dir: filepath.Clean(dir)} }

// Dir returns the area's directory.
func (a *Area) Dir() string { return a.dir }

// meta is what a cache's directory records of its identity.
type meta struct {
	ID    string `json:"id"`
	Scope string `json:"scope,omitempty"`
}

// Handle is a cache in use by one step.
type Handle struct {
	// Dir is the host directory to mount.
	Dir  string
	lock *fsutil.Lock
}

// Release ends the step's use of the cache.
func (h *Handle) Release() error { return h.lock.Unlock() }

// Acquire returns the cache spec names, creating it when new, once its
// sharing mode allows; it waits for a Locked cache until ctx is done.
func (a *Area) Acquire(ctx context.Context, spec Spec) (*Handle, error) {
	key := sha256.Sum256([]byte(spec.ID + "\x00" + spec.Scope))
	dir := filepath.Join(a.dir, hex.EncodeToString(key[:]))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cache %s: %w", spec.ID, err)
	}
	if err := writeMeta(dir, meta{ID: spec.ID, Scope: spec.Scope}); err != nil {
		return nil, fmt.Errorf("cache %s: %w", spec.ID, err)
	}
	n, lock, err := lockInstance(ctx, dir, spec.Sharing)
	if err != nil {
		return nil, fmt.Errorf("cache %s: %w", spec.ID, err)
	}
	inst := filepath.Join(dir, strconv.Itoa(n))
	if err := ensureInstance(inst, spec); err != nil {
		lock.Unlock()
		return nil, fmt.Errorf("cache %s: %w", spec.ID, err)
	}
	now := time.Now()
	_ = os.Chtimes(lockPath(dir, n), now, now) // last use, for prune
	return &Handle{Dir: inst, lock: lock}, nil
}

func lockPath(dir string, n int) string {
	return filepath.Join(dir, strconv.Itoa(n)+".lock")
}

// lockInstance picks the instance of the cache in dir a step uses, and
// holds the lock that keeps the sharing mode: shared users hold a shared
// lock on instance 0, a locked user an exclusive one, and a private user
// an exclusive lock on the first instance nobody holds.
func lockInstance(ctx context.Context, dir string, sharing Sharing) (int, *fsutil.Lock, error) {
	switch sharing {
	case Locked:
		l, err := fsutil.LockFileContext(ctx, lockPath(dir, 0))
		return 0, l, err
	case Private:
		for n := 0; ; n++ {
			l, err := fsutil.TryLock(lockPath(dir, n))
			if err == nil {
				return n, l, nil
			}
			if !errors.Is(err, fsutil.ErrLocked) {
				return 0, nil, err
			}
			if err := ctx.Err(); err != nil {
				return 0, nil, err
			}
		}
	}
	l, err := fsutil.LockFileSharedContext(ctx, lockPath(dir, 0))
	return 0, l, err
}

// ensureInstance creates the instance directory inst unless it exists:
// made and filled beside it, then renamed into place, so that a crash or
// a concurrent shared user never sees a half-filled cache.
func ensureInstance(inst string, spec Spec) error {
	if _, err := os.Lstat(inst); err == nil {
		return nil
	}
	tmp, err := os.MkdirTemp(filepath.Dir(inst), ".new-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if spec.Populate != nil {
		if err := spec.Populate(tmp); err != nil {
			return err
		}
	}
	mode := spec.Mode
	if mode == 0 {
		mode = 0o755
	}
	if err := os.Lchown(tmp, spec.UID, spec.GID); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	if err := os.Rename(tmp, inst); err != nil {
		if _, serr := os.Lstat(inst); serr == nil {
			return nil // another shared user made it first
		}
		return err
	}
	return nil
}

func writeMeta(dir string, m meta) error {
	p := filepath.Join(dir, "meta.json")
	if _, err := os.Lstat(p); err == nil {
		return nil
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(p, 0o600, func(w io.Writer) error {
		_, err := w.Write(raw)
		return err
	})
}
