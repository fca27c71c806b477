package cachemount

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// cancelled is a context that is already done: Acquire with it succeeds
// only when its lock is free at once, so it tells "granted" from "would
// wait" without any timing.
func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// newArea opens an area in a fresh directory below a parent that holds
// nothing else, so a test can tell whether anything landed beside it.
func newArea(t *testing.T) *Area {
	t.Helper()
	return Open(filepath.Join(t.TempDir(), "area"))
}

func mustAcquire(t *testing.T, ctx context.Context, a *Area, spec Spec) *Handle {
	t.Helper()
	h, err := a.Acquire(ctx, spec)
	if err != nil {
		t.Fatalf("Acquire(%+v): %v", spec, err)
	}
	return h
}

func release(t *testing.T, h *Handle) {
	t.Helper()
	if err := h.Release(); err != nil {
		t.Fatalf("Release: %v", err)
	}
}

func TestParseSharing(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Sharing
		ok   bool
	}{
		{"", Shared, true},
		{"shared", Shared, true},
		{"private", Private, true},
		{"locked", Locked, true},
		{"Shared", "", false},
		{"bogus", "", false},
		{" locked", "", false},
	} {
		got, err := ParseSharing(tc.in)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("ParseSharing(%q) = %q, %v; want %q, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), tc.in) {
			t.Errorf("ParseSharing(%q) error %q does not name the value", tc.in, err)
		}
	}
}

// TestAcquireShared: two shared users hold one cache at once and see the
// same directory, and what one writes the other reads.
func TestAcquireShared(t *testing.T) {
	a := newArea(t)
	spec := Spec{ID: "go-build", Sharing: Shared}
	h1 := mustAcquire(t, context.Background(), a, spec)
	h2 := mustAcquire(t, cancelled(), a, spec)
	if h1.Dir != h2.Dir {
		t.Errorf("shared users got %s and %s, want one directory", h1.Dir, h2.Dir)
	}
	if err := os.WriteFile(filepath.Join(h1.Dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(h2.Dir, "f")); err != nil {
		t.Errorf("the second user does not see the first's file: %v", err)
	}
	release(t, h1)
	release(t, h2)
	// A new user, after both, finds the content kept.
	h3 := mustAcquire(t, cancelled(), a, spec)
	defer release(t, h3)
	if b, err := os.ReadFile(filepath.Join(h3.Dir, "f")); err != nil || string(b) != "x" {
		t.Errorf("cache content after release: %q, %v; want it kept", b, err)
	}
}

// TestAcquirePrivate: a private user never shares an instance another user
// holds, and takes instance 0 again once it is free.
func TestAcquirePrivate(t *testing.T) {
	for _, holder := range []Sharing{Shared, Private, Locked} {
		t.Run("while "+string(holder)+" holds it", func(t *testing.T) {
			a := newArea(t)
			h0 := mustAcquire(t, context.Background(), a, Spec{ID: "c", Sharing: holder})
			if err := os.WriteFile(filepath.Join(h0.Dir, "mine"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			// Private never waits: it takes the first free instance.
			hp := mustAcquire(t, context.Background(), a, Spec{ID: "c", Sharing: Private})
			if hp.Dir == h0.Dir {
				t.Fatalf("private user got %s, which another user holds", hp.Dir)
			}
			if filepath.Dir(hp.Dir) != filepath.Dir(h0.Dir) {
				t.Errorf("private instance %s is not beside %s", hp.Dir, h0.Dir)
			}
			if _, err := os.Stat(filepath.Join(hp.Dir, "mine")); err == nil {
				t.Error("a new private instance holds the other instance's file")
			}
			hp2 := mustAcquire(t, context.Background(), a, Spec{ID: "c", Sharing: Private})
			if hp2.Dir == hp.Dir || hp2.Dir == h0.Dir {
				t.Errorf("a third user got %s while %s and %s are held", hp2.Dir, h0.Dir, hp.Dir)
			}
			release(t, hp2)
			release(t, hp)
			release(t, h0)
			again := mustAcquire(t, cancelled(), a, Spec{ID: "c", Sharing: Private})
			defer release(t, again)
			if again.Dir != h0.Dir {
				t.Errorf("private user after release got %s, want instance 0 %s", again.Dir, h0.Dir)
			}
			if _, err := os.Stat(filepath.Join(again.Dir, "mine")); err != nil {
				t.Errorf("instance 0 lost its content: %v", err)
			}
		})
	}
}

// TestAcquireLockedWaits: a locked user waits while any other user holds
// the cache, gives up with the context's error, and gets it once it is
// released; a shared user waits for a locked one in turn.
func TestAcquireLockedWaits(t *testing.T) {
	for _, holder := range []Sharing{Shared, Locked} {
		t.Run("while "+string(holder)+" holds it", func(t *testing.T) {
			a := newArea(t)
			h := mustAcquire(t, context.Background(), a, Spec{ID: "c", Sharing: holder})
			_, err := a.Acquire(cancelled(), Spec{ID: "c", Sharing: Locked})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("locked Acquire while held = %v; want the context's error", err)
			}
			// Wait for real, in the background: the lock is granted only
			// after the holder has released, which the flag records.
			var released atomic.Bool
			got := make(chan error, 1)
			go func() {
				hl, err := a.Acquire(context.Background(), Spec{ID: "c", Sharing: Locked})
				if err == nil {
					if !released.Load() {
						err = errors.New("granted while the other user held the cache")
					}
					err = errors.Join(err, hl.Release())
				}
				got <- err
			}()
			released.Store(true)
			release(t, h)
			if err := <-got; err != nil {
				t.Fatalf("locked Acquire after release: %v", err)
			}
		})
	}
	t.Run("shared waits for locked", func(t *testing.T) {
		a := newArea(t)
		h := mustAcquire(t, context.Background(), a, Spec{ID: "c", Sharing: Locked})
		if _, err := a.Acquire(cancelled(), Spec{ID: "c", Sharing: Shared}); !errors.Is(err, context.Canceled) {
			t.Fatalf("shared Acquire while locked = %v; want the context's error", err)
		}
		release(t, h)
		release(t, mustAcquire(t, cancelled(), a, Spec{ID: "c", Sharing: Shared}))
	})
}

// TestAcquireRootAttributes: mode, uid and gid go to a new cache's root,
// and a cache found again keeps what it has.
func TestAcquireRootAttributes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving a directory to another owner needs root")
	}
	a := newArea(t)
	check := func(dir string, mode fs.FileMode, uid, gid uint32) {
		t.Helper()
		fi, err := os.Lstat(dir)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm() != mode || st.Uid != uid || st.Gid != gid {
			t.Errorf("%s: mode %v owner %d:%d; want %v %d:%d", dir, fi.Mode().Perm(), st.Uid, st.Gid, mode, uid, gid)
		}
	}
	h := mustAcquire(t, context.Background(), a, Spec{ID: "c", Mode: 0o750, UID: 1234, GID: 5678})
	check(h.Dir, 0o750, 1234, 5678)
	release(t, h)
	h = mustAcquire(t, context.Background(), a, Spec{ID: "c", Mode: 0o777, UID: 1, GID: 2})
	check(h.Dir, 0o750, 1234, 5678)
	release(t, h)
	d := mustAcquire(t, context.Background(), a, Spec{ID: "default"})
	defer release(t, d)
	check(d.Dir, 0o755, 0, 0)
}

// TestAcquirePopulate: Populate fills a new instance, once; a failing one
// leaves no instance behind and no lock held.
func TestAcquirePopulate(t *testing.T) {
	a := newArea(t)
	calls := 0
	spec := Spec{ID: "c", Sharing: Private, Populate: func(dir string) error {
		calls++
		return os.WriteFile(filepath.Join(dir, "seed"), []byte("s"), 0o644)
	}}
	h0 := mustAcquire(t, context.Background(), a, spec)
	if calls != 1 {
		t.Fatalf("Populate ran %d times for a new cache, want 1", calls)
	}
	if b, err := os.ReadFile(filepath.Join(h0.Dir, "seed")); err != nil || string(b) != "s" {
		t.Errorf("new cache holds %q, %v; want the seed", b, err)
	}
	if err := os.Remove(filepath.Join(h0.Dir, "seed")); err != nil {
		t.Fatal(err)
	}
	h1 := mustAcquire(t, context.Background(), a, spec) // a new private instance
	if calls != 2 {
		t.Errorf("Populate ran %d times after a second instance was made, want 2", calls)
	}
	release(t, h1)
	release(t, h0)
	h := mustAcquire(t, context.Background(), a, spec)
	defer release(t, h)
	if calls != 2 {
		t.Errorf("Populate ran again for an existing instance (%d calls)", calls)
	}
	if _, err := os.Stat(filepath.Join(h.Dir, "seed")); err == nil {
		t.Error("an existing instance was populated again")
	}

}

// TestAcquirePopulateFails: a failing Populate leaves neither an instance
// nor its half-filled temporary directory behind, and gives the lock back.
func TestAcquirePopulateFails(t *testing.T) {
	a := newArea(t)
	boom := errors.New("boom")
	bad := Spec{ID: "bad", Sharing: Locked, Populate: func(dir string) error {
		if err := os.WriteFile(filepath.Join(dir, "half"), nil, 0o644); err != nil {
			return err
		}
		return boom
	}}
	if _, err := a.Acquire(context.Background(), bad); !errors.Is(err, boom) {
		t.Fatalf("Acquire with a failing Populate = %v; want its error", err)
	}
	caches, err := os.ReadDir(a.Dir())
	if err != nil || len(caches) != 1 {
		t.Fatalf("area holds %v, %v; want the one cache's directory", caches, err)
	}
	ents, err := os.ReadDir(filepath.Join(a.Dir(), caches[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() {
			t.Errorf("failed Populate left directory %s in the cache", e.Name())
		}
	}
	bad.Populate = nil
	h := mustAcquire(t, cancelled(), a, bad) // the lock was given back
	defer release(t, h)
	if _, err := os.Stat(filepath.Join(h.Dir, "half")); err == nil {
		t.Error("the failed Populate's file is in the cache")
	}
}

// TestAcquireIDStaysInArea: whatever an id spells, its cache is a
// directory of the area itself, and different ids get different caches.
func TestAcquireIDStaysInArea(t *testing.T) {
	a := newArea(t)
	parent := filepath.Dir(a.Dir())
	seen := map[string]string{}
	for _, id := range []string{"../../etc", "/abs", "a/../../b", "..", ".", "", "x\x00y", "/", "sub/dir"} {
		h := mustAcquire(t, context.Background(), a, Spec{ID: id})
		if got := filepath.Dir(filepath.Dir(h.Dir)); got != a.Dir() {
			t.Errorf("id %q: cache %s is not a directory of the area %s", id, h.Dir, a.Dir())
		}
		if other, ok := seen[h.Dir]; ok {
			t.Errorf("ids %q and %q share %s", other, id, h.Dir)
		}
		seen[h.Dir] = id
		release(t, h)
	}
	ents, err := os.ReadDir(parent)
	if err != nil || len(ents) != 1 || ents[0].Name() != "area" {
		t.Errorf("the area's parent holds %v, %v; want only the area", ents, err)
	}
	if _, err := os.Lstat(filepath.Join(parent, "b")); err == nil {
		t.Error("an id created a path beside the area")
	}
}

// TestAcquireScope: one id with two scopes is two caches.
func TestAcquireScope(t *testing.T) {
	a := newArea(t)
	h1 := mustAcquire(t, context.Background(), a, Spec{ID: "c", Scope: "stage a"})
	defer release(t, h1)
	h2 := mustAcquire(t, context.Background(), a, Spec{ID: "c", Scope: "stage b"})
	defer release(t, h2)
	if h1.Dir == h2.Dir {
		t.Errorf("two scopes share %s", h1.Dir)
	}
}

// lockOf is the lock file whose mtime records the last use of the cache
// holding instance dir.
func lockOf(instance string) string {
	return filepath.Join(filepath.Dir(instance), "0.lock")
}

func setLastUse(t *testing.T, instance string, when time.Time) {
	t.Helper()
	if err := os.Chtimes(lockOf(instance), when, when); err != nil {
		t.Fatal(err)
	}
}

// TestList: every cache with its id, the bytes of its files (never of
// what a symlink points to) and its last use, most recent first; a new
// use moves a cache to the front.
func TestList(t *testing.T) {
	if got, err := newArea(t).List(context.Background()); err != nil || got != nil {
		t.Fatalf("List of an area never used = %v, %v; want nothing", got, err)
	}
	a := newArea(t)
	big := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(big, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	dirs := map[string]string{}
	for i, id := range []string{"old", "new", "mid"} {
		h := mustAcquire(t, context.Background(), a, Spec{ID: id})
		dirs[id] = h.Dir
		if err := os.WriteFile(filepath.Join(h.Dir, "f"), make([]byte, 100*(i+1)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(big, filepath.Join(h.Dir, "link")); err != nil {
			t.Fatal(err)
		}
		release(t, h)
	}
	setLastUse(t, dirs["old"], base)
	setLastUse(t, dirs["mid"], base.Add(time.Hour))
	setLastUse(t, dirs["new"], base.Add(2*time.Hour))
	got := list(t, a)
	if ids := idsOf(got); ids != "new mid old" {
		t.Fatalf("List order %q, want new mid old", ids)
	}
	for _, u := range got {
		meta, err := os.Lstat(filepath.Join(filepath.Dir(dirs[u.ID]), "meta.json"))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int64{"old": 100, "new": 200, "mid": 300}[u.ID] + meta.Size()
		if u.Size != want {
			t.Errorf("cache %s: size %d, want %d (its file and its meta.json, not the symlink's target)", u.ID, u.Size, want)
		}
	}
	if !got[2].LastUsed.Equal(base) {
		t.Errorf("cache old: last used %v, want %v", got[2].LastUsed, base)
	}
	release(t, mustAcquire(t, context.Background(), a, Spec{ID: "old"}))
	got = list(t, a)
	if ids := idsOf(got); ids != "old new mid" {
		t.Errorf("List order after using old again %q, want old new mid", ids)
	}
	if !got[0].LastUsed.After(base.Add(2 * time.Hour)) {
		t.Errorf("Acquire did not record the use: last used %v", got[0].LastUsed)
	}
}

func list(t *testing.T, a *Area) []Usage {
	t.Helper()
	got, err := a.List(context.Background())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return got
}

func idsOf(us []Usage) string {
	var ids []string
	for _, u := range us {
		ids = append(ids, u.ID)
	}
	return strings.Join(ids, " ")
}

// TestRemove: Remove deletes one cache, every instance of it, without
// following a symlink out of it, and refuses a path outside the area.
func TestRemove(t *testing.T) {
	a := newArea(t)
	outside := t.TempDir()
	victim := filepath.Join(outside, "victim")
	if err := os.WriteFile(victim, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	h0 := mustAcquire(t, context.Background(), a, Spec{ID: "gone"})
	h1 := mustAcquire(t, context.Background(), a, Spec{ID: "gone", Sharing: Private})
	for _, h := range []*Handle{h0, h1} {
		if err := os.Symlink(outside, filepath.Join(h.Dir, "out")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(victim, filepath.Join(h.Dir, "file")); err != nil {
			t.Fatal(err)
		}
		release(t, h)
	}
	kept := mustAcquire(t, context.Background(), a, Spec{ID: "kept"})
	release(t, kept)
	var gone Usage
	for _, u := range list(t, a) {
		if u.ID == "gone" {
			gone = u
		}
	}
	if err := a.Remove(gone); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := os.Lstat(filepath.Dir(h0.Dir)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("removed cache still there: %v", err)
	}
	if b, err := os.ReadFile(victim); err != nil || string(b) != "keep" {
		t.Errorf("the file a cache's symlink named: %q, %v; want it untouched", b, err)
	}
	if _, err := os.Stat(kept.Dir); err != nil {
		t.Errorf("Remove took another cache: %v", err)
	}
	if ids := idsOf(list(t, a)); ids != "kept" {
		t.Errorf("List after Remove: %q, want kept", ids)
	}
	for _, dir := range []string{outside, a.Dir(), filepath.Dir(a.Dir()), filepath.Join(a.Dir(), "..", "x")} {
		if err := a.Remove(Usage{ID: "evil", dir: dir}); err == nil {
			t.Errorf("Remove of %s succeeded, want a refusal", dir)
		}
	}
	if _, err := os.Stat(victim); err != nil {
		t.Errorf("Remove of a path outside the area deleted it: %v", err)
	}
	if _, err := os.Stat(kept.Dir); err != nil {
		t.Errorf("Remove of the area itself deleted it: %v", err)
	}
}

// TestRemoveUncleanAreaPath: an area opened by an unclean path (a
// trailing slash, a "./") removes its caches like any other.
func TestRemoveUncleanAreaPath(t *testing.T) {
	for _, suffix := range []string{"/", "/.", "/../area"} {
		a := Open(filepath.Join(t.TempDir(), "area") + suffix)
		release(t, mustAcquire(t, context.Background(), a, Spec{ID: "c"}))
		for _, u := range list(t, a) {
			if err := a.Remove(u); err != nil {
				t.Errorf("area %s: Remove: %v", a.Dir(), err)
			}
		}
		if got := list(t, a); len(got) != 0 {
			t.Errorf("area %s: %d caches left after Remove", a.Dir(), len(got))
		}
	}
}
