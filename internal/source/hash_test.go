package source

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	mathrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// laterClock makes every file written before the hashing look old enough
// to cache, as if the build ran an hour after the files were written.
func laterClock() time.Time { return time.Now().Add(time.Hour) }

// openTestHasher opens a hasher on cacheFile with the clock now.
func openTestHasher(t testing.TB, cacheFile string, jobs int, now func() time.Time) *FileHasher {
	t.Helper()
	h, err := OpenFileHasher(cacheFile, jobs)
	if err != nil {
		t.Fatal(err)
	}
	h.now = now
	return h
}

// writeHashFiles writes n files of random content of the given sizes
// (cycled) into dir and returns their paths and expected digests.
func writeHashFiles(t testing.TB, dir string, n int, sizes ...int) ([]string, []digest.Digest) {
	t.Helper()
	paths := make([]string, n)
	want := make([]digest.Digest, n)
	for i := range n {
		data := make([]byte, sizes[i%len(sizes)])
		_, _ = rand.Read(data)
		paths[i] = filepath.Join(dir, fmt.Sprintf("f%05d", i))
		if err := os.WriteFile(paths[i], data, 0o644); err != nil {
			t.Fatal(err)
		}
		want[i] = digest.FromBytes(data)
	}
	return paths, want
}

func digestsOrFatal(t testing.TB, h *FileHasher, paths []string) []digest.Digest {
	t.Helper()
	got, err := h.Digests(context.Background(), paths)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func assertStats(t testing.TB, h *FileHasher, wantCached, wantRead int64) {
	t.Helper()
	if cached, read := h.Stats(); cached != wantCached || read != wantRead {
		t.Fatalf("Stats() = cached %d, read %d; want cached %d, read %d", cached, read, wantCached, wantRead)
	}
}

func closeOrFatal(t testing.TB, h *FileHasher) {
	t.Helper()
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
}

func statT(t testing.TB, p string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestFileHasherDigests(t *testing.T) {
	dir := t.TempDir()
	// Empty, small, exactly one buffer, and several buffers plus a tail.
	paths, want := writeHashFiles(t, dir, 4, 0, 5, hashBufSize, 3*hashBufSize+7)
	// Duplicates and a relative path keep their place in the output.
	t.Chdir(dir)
	paths = append(paths, paths[1], filepath.Base(paths[3]), filepath.Join(dir, ".", "sub", "..", "f00002"))
	want = append(want, want[1], want[3], want[2])

	h := openTestHasher(t, filepath.Join(t.TempDir(), "cache"), 3, laterClock)
	got := digestsOrFatal(t, h, paths)
	if !slices.Equal(got, want) {
		t.Fatalf("Digests = %v, want %v", got, want)
	}
	// Same path spelled three ways: one read, two hits.
	got = digestsOrFatal(t, h, paths)
	if !slices.Equal(got, want) {
		t.Fatalf("second Digests = %v, want %v", got, want)
	}
	if cached, read := h.Stats(); cached+read != int64(2*len(paths)) || cached < int64(len(paths)) {
		t.Fatalf("Stats() = cached %d, read %d over two calls of %d paths", cached, read, len(paths))
	}
	closeOrFatal(t, h)

	empty, err := openTestHasher(t, "", 0, laterClock).Digests(context.Background(), nil)
	if err != nil || len(empty) != 0 {
		t.Fatalf("Digests(nil) = %v, %v", empty, err)
	}
}

func TestFileHasherWarmCacheReadsNothing(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(t.TempDir(), "state", "hashes") // parent created by Close
	paths, want := writeHashFiles(t, dir, 50, 10, 1000, 70000)

	h := openTestHasher(t, cache, 0, laterClock)
	if got := digestsOrFatal(t, h, paths); !slices.Equal(got, want) {
		t.Fatalf("cold Digests = %v, want %v", got, want)
	}
	assertStats(t, h, 0, 50)
	closeOrFatal(t, h)

	h = openTestHasher(t, cache, 0, laterClock)
	if got := digestsOrFatal(t, h, paths); !slices.Equal(got, want) {
		t.Fatalf("warm Digests = %v, want %v", got, want)
	}
	assertStats(t, h, 50, 0)
	closeOrFatal(t, h)
}

func TestFileHasherRereadsModifiedFile(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(t.TempDir(), "hashes")
	paths, want := writeHashFiles(t, dir, 2, 4096)
	h := openTestHasher(t, cache, 0, laterClock)
	digestsOrFatal(t, h, paths)
	closeOrFatal(t, h)

	// Same size, mtime put back: only the ctime tells the change apart.
	before := statT(t, paths[0])
	data := make([]byte, 4096)
	_, _ = rand.Read(data)
	if err := os.WriteFile(paths[0], data, 0o644); err != nil {
		t.Fatal(err)
	}
	mtime := time.Unix(before.Mtim.Unix())
	for {
		if err := os.Chtimes(paths[0], mtime, mtime); err != nil {
			t.Fatal(err)
		}
		// The later clock makes the cache trust a ctime from this very
		// tick, so wait until the kernel's clock has moved on.
		if after := statT(t, paths[0]); after.Ctim != before.Ctim {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	after := statT(t, paths[0])
	if after.Size != before.Size || after.Mtim != before.Mtim || after.Ino != before.Ino {
		t.Fatalf("test setup: identity differs beyond ctime: before %+v, after %+v", before, after)
	}

	h = openTestHasher(t, cache, 0, laterClock)
	got := digestsOrFatal(t, h, paths)
	if got[0] != digest.FromBytes(data) || got[1] != want[1] {
		t.Fatalf("Digests = %v, want [%s %s]", got, digest.FromBytes(data), want[1])
	}
	assertStats(t, h, 1, 1)
	closeOrFatal(t, h)
}

func TestFileHasherDoesNotCacheRacyFiles(t *testing.T) {
	dir := t.TempDir()
	paths, want := writeHashFiles(t, dir, 1, 100)
	st := statT(t, paths[0])
	newest := time.Unix(st.Ctim.Unix())
	if mt := time.Unix(st.Mtim.Unix()); mt.After(newest) {
		newest = mt
	}

	for _, tc := range []struct {
		name   string
		after  time.Duration // hashing starts this long after the last change
		cached bool
	}{
		{name: "changed just before hashing", after: 0, cached: false},
		{name: "changed within the window", after: racyWindow / 2, cached: false},
		{name: "changed before the window", after: 2 * racyWindow, cached: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := filepath.Join(t.TempDir(), "hashes")
			clock := func() time.Time { return newest.Add(tc.after) }
			h := openTestHasher(t, cache, 0, clock)
			for range 2 {
				if got := digestsOrFatal(t, h, paths); got[0] != want[0] {
					t.Fatalf("Digests = %s, want %s", got[0], want[0])
				}
			}
			if tc.cached {
				assertStats(t, h, 1, 1)
			} else {
				assertStats(t, h, 0, 2)
			}
			closeOrFatal(t, h)

			h = openTestHasher(t, cache, 0, clock)
			digestsOrFatal(t, h, paths)
			if tc.cached {
				assertStats(t, h, 1, 0)
			} else {
				assertStats(t, h, 0, 1)
			}
			closeOrFatal(t, h)
		})
	}
}

func TestFileHasherCorruptCache(t *testing.T) {
	dir := t.TempDir()
	paths, want := writeHashFiles(t, dir, 3, 1, 2, 3)
	good := filepath.Join(t.TempDir(), "hashes")
	h := openTestHasher(t, good, 0, laterClock)
	digestsOrFatal(t, h, paths)
	closeOrFatal(t, h)
	valid, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	// The last record's digest ends just before the checksum.
	sumByte := len(valid) - hashTrailerSize - 1

	mutate := func(f func(b []byte) []byte) []byte { return f(slices.Clone(valid)) }
	garbage := make([]byte, len(valid))
	_, _ = rand.Read(garbage)
	cases := map[string][]byte{
		"empty":          {},
		"header only":    valid[:hashHeaderSize],
		"truncated half": valid[:len(valid)/2],
		"no checksum":    valid[:len(valid)-hashTrailerSize],
		"one byte short": valid[:len(valid)-1],
		"trailing byte":  append(slices.Clone(valid), 0),
		"garbage":        garbage,
		"flipped digest": mutate(func(b []byte) []byte { b[sumByte] ^= 1; return b }),
		"flipped inode":  mutate(func(b []byte) []byte { b[len(b)-hashTrailerSize-hashRecordSize+recIno] ^= 1; return b }),
		"other version": mutate(func(b []byte) []byte {
			b[hdrVersion]++
			return withCRC(b)
		}),
		"path overruns": mutate(func(b []byte) []byte {
			b[len(b)-hashTrailerSize-hashRecordSize+recPathLen] += 50
			return withCRC(b)
		}),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			cache := filepath.Join(t.TempDir(), "hashes")
			if err := os.WriteFile(cache, data, 0o600); err != nil {
				t.Fatal(err)
			}
			h := openTestHasher(t, cache, 0, laterClock)
			if got := digestsOrFatal(t, h, paths); !slices.Equal(got, want) {
				t.Fatalf("Digests = %v, want %v", got, want)
			}
			assertStats(t, h, 0, 3)
			closeOrFatal(t, h)

			// The rewritten file is valid again.
			h = openTestHasher(t, cache, 0, laterClock)
			digestsOrFatal(t, h, paths)
			assertStats(t, h, 3, 0)
			closeOrFatal(t, h)
		})
	}

	t.Run("unreadable", func(t *testing.T) {
		cache := t.TempDir() // a directory
		h := openTestHasher(t, cache, 0, laterClock)
		if got := digestsOrFatal(t, h, paths); !slices.Equal(got, want) {
			t.Fatalf("Digests = %v, want %v", got, want)
		}
		assertStats(t, h, 0, 3)
		if err := h.Close(); err == nil {
			t.Fatal("Close replaced a directory")
		}
	})

	// Control: with its checksum fixed, the flipped digest is believed, so
	// the checksum is what keeps "flipped digest" above from lying.
	t.Run("flipped digest with valid checksum is trusted", func(t *testing.T) {
		cache := filepath.Join(t.TempDir(), "hashes")
		if err := os.WriteFile(cache, withCRC(mutate(func(b []byte) []byte { b[sumByte] ^= 1; return b })), 0o600); err != nil {
			t.Fatal(err)
		}
		h := openTestHasher(t, cache, 0, laterClock)
		got := digestsOrFatal(t, h, paths)
		assertStats(t, h, 3, 0)
		if slices.Equal(got, want) {
			t.Fatal("the flipped byte is not part of a digest")
		}
		closeOrFatal(t, h)
	})
}

// withCRC replaces the checksum trailer of an encoded cache.
func withCRC(b []byte) []byte {
	body := b[:len(b)-hashTrailerSize]
	c := crc32.Checksum(body, castagnoli)
	return append(body, byte(c), byte(c>>8), byte(c>>16), byte(c>>24))
}

func TestFileHasherRejectsNonRegular(t *testing.T) {
	dir := t.TempDir()
	paths, _ := writeHashFiles(t, dir, 1, 10)
	link := filepath.Join(dir, "link")
	dangling := filepath.Join(dir, "dangling")
	sub := filepath.Join(dir, "sub")
	fifo := filepath.Join(dir, "fifo")
	missing := filepath.Join(dir, "missing")
	for _, err := range []error{
		os.Symlink(paths[0], link),
		os.Symlink("nowhere", dangling),
		os.Mkdir(sub, 0o755),
		unix.Mkfifo(fifo, 0o644),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		path string
		want error
	}{
		{link, errNotRegular},
		{dangling, errNotRegular},
		{sub, errNotRegular},
		{fifo, errNotRegular},
		{missing, fs.ErrNotExist},
	} {
		t.Run(filepath.Base(tc.path), func(t *testing.T) {
			h := openTestHasher(t, "", 0, laterClock)
			defer closeOrFatal(t, h)
			got, err := h.Digests(context.Background(), []string{paths[0], tc.path})
			if err == nil {
				t.Fatalf("Digests = %v, want an error", got)
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.path) {
				t.Fatalf("err = %v, want %v naming %s", err, tc.want, tc.path)
			}
		})
	}
}

func TestFileHasherConcurrentDigests(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(t.TempDir(), "hashes")
	paths, want := writeHashFiles(t, dir, 60, 100, 5000, 300000)
	h := openTestHasher(t, cache, 3, laterClock)

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			r := mathrand.New(mathrand.NewPCG(uint64(g), 0))
			for range 5 {
				idx := r.Perm(len(paths))[:20]
				ps := make([]string, len(idx))
				for i, j := range idx {
					ps[i] = paths[j]
				}
				got, err := h.Digests(context.Background(), ps)
				if err != nil {
					errs <- err
					return
				}
				for i, j := range idx {
					if got[i] != want[j] {
						errs <- fmt.Errorf("digest of %s = %s, want %s", ps[i], got[i], want[j])
						return
					}
				}
				h.Stats()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	cached, read := h.Stats()
	if cached+read != 8*5*20 {
		t.Fatalf("Stats() = cached %d, read %d for %d lookups", cached, read, 8*5*20)
	}
	closeOrFatal(t, h)

	h = openTestHasher(t, cache, 0, laterClock)
	if got := digestsOrFatal(t, h, paths); !slices.Equal(got, want) {
		t.Fatalf("Digests after reopening = %v, want %v", got, want)
	}
	assertStats(t, h, 60, 0)
	closeOrFatal(t, h)
}

func TestFileHasherContextCancellation(t *testing.T) {
	dir := t.TempDir()
	paths, _ := writeHashFiles(t, dir, 50, 1000)

	t.Run("before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		h := openTestHasher(t, "", 0, laterClock)
		if _, err := h.Digests(ctx, paths); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		assertStats(t, h, 0, 0)
	})

	t.Run("during", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		h := openTestHasher(t, "", 1, laterClock)
		// The clock is read once before each file: cancel at the fifth.
		calls := 0
		h.now = func() time.Time {
			if calls++; calls == 5 {
				cancel()
			}
			return laterClock()
		}
		if _, err := h.Digests(ctx, paths); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if _, read := h.Stats(); read > 5 {
			t.Fatalf("%d files read after cancelling at the fifth", read)
		}
	})
}

func TestFileHasherCloseWritesOnlyChanges(t *testing.T) {
	dir := t.TempDir()
	cacheDir := t.TempDir()
	cache := filepath.Join(cacheDir, "hashes")
	paths, _ := writeHashFiles(t, dir, 3, 10)

	h := openTestHasher(t, cache, 0, laterClock)
	digestsOrFatal(t, h, paths[:2])
	closeOrFatal(t, h)
	closeOrFatal(t, h) // no-op
	first := statT(t, cache)

	// Hits only: the file stays as it was (a rewrite is a new inode).
	h = openTestHasher(t, cache, 0, laterClock)
	digestsOrFatal(t, h, paths[:2])
	closeOrFatal(t, h)
	if st := statT(t, cache); st.Ino != first.Ino {
		t.Fatal("cache file rewritten though nothing changed")
	}

	h = openTestHasher(t, cache, 0, laterClock)
	digestsOrFatal(t, h, paths)
	closeOrFatal(t, h)
	if st := statT(t, cache); st.Ino == first.Ino {
		t.Fatal("cache file not rewritten after a new entry")
	}
	if _, err := h.Digests(context.Background(), paths); err == nil {
		t.Fatal("Digests after Close succeeded")
	}
	ents, err := os.ReadDir(cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 {
		t.Fatalf("cache directory holds %d entries, want only the cache file", len(ents))
	}
}

func TestFileHasherEviction(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(t.TempDir(), "hashes")
	paths, _ := writeHashFiles(t, dir, 6, 10)

	h := openTestHasher(t, cache, 0, laterClock)
	digestsOrFatal(t, h, paths[:5])
	closeOrFatal(t, h)

	// A run that uses two files (one new) under a cap of three keeps those
	// two and one older entry.
	h = openTestHasher(t, cache, 0, laterClock)
	h.maxEntries = 3
	digestsOrFatal(t, h, paths[4:])
	assertStats(t, h, 1, 1)
	closeOrFatal(t, h)

	h = openTestHasher(t, cache, 0, laterClock)
	digestsOrFatal(t, h, paths[4:])
	assertStats(t, h, 2, 0)
	digestsOrFatal(t, h, paths[:4])
	assertStats(t, h, 3, 3)
	closeOrFatal(t, h)
}

func TestEvictHashEntriesKeepsRecent(t *testing.T) {
	entries := []hashEntry{
		{path: "/a", lastUsed: 10},
		{path: "/b", lastUsed: 30, used: true},
		{path: "/c", lastUsed: 20},
		{path: "/d", lastUsed: 40},
		{path: "/e", lastUsed: 5, used: true},
	}
	var got []string
	for _, e := range evictHashEntries(entries, 4) {
		got = append(got, e.path)
	}
	slices.Sort(got)
	if want := []string{"/b", "/c", "/d", "/e"}; !slices.Equal(got, want) {
		t.Fatalf("kept %v, want %v", got, want)
	}
	if n := len(evictHashEntries(slices.Clone(entries), 1)); n != 2 {
		t.Fatalf("kept %d entries under a cap of 1, want the 2 used ones", n)
	}
}

// BenchmarkFileHasher reads 2,000 files of 64 KiB: cold hashes every file,
// warm opens the cache file and gets every digest from it.
func BenchmarkFileHasher(b *testing.B) {
	const files, size = 2000, 64 << 10
	dir := b.TempDir()
	paths, want := writeHashFiles(b, dir, files, size)
	cache := filepath.Join(b.TempDir(), "hashes")

	b.Run("cold", func(b *testing.B) {
		b.SetBytes(files * size)
		for b.Loop() {
			h := openTestHasher(b, "", 0, laterClock)
			digestsOrFatal(b, h, paths)
			closeOrFatal(b, h)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*files), "ns/file")
	})

	h := openTestHasher(b, cache, 0, laterClock)
	digestsOrFatal(b, h, paths)
	closeOrFatal(b, h)
	b.Run("warm", func(b *testing.B) {
		for b.Loop() {
			h := openTestHasher(b, cache, 0, laterClock)
			if got := digestsOrFatal(b, h, paths); got[files-1] != want[files-1] {
				b.Fatal("wrong digest")
			}
			if _, read := h.Stats(); read != 0 {
				b.Fatalf("%d files read", read)
			}
			closeOrFatal(b, h)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*files), "ns/file")
	})
}

// BenchmarkOpenFileHasher loads cache files of 20,000 and 1,000,000
// entries with paths of typical length.
func BenchmarkOpenFileHasher(b *testing.B) {
	for _, n := range []int{20_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			entries := make([]hashEntry, n)
			for i := range entries {
				entries[i] = hashEntry{
					path:     fmt.Sprintf("/home/builder/src/github.com/example/project/pkg/module%04d/file_%07d.go", i/100, i),
					id:       fileIdentity{dev: 2049, ino: uint64(i), size: 4096, mtime: int64(i), ctime: int64(i), mode: unix.S_IFREG | 0o644},
					lastUsed: 1,
				}
			}
			cache := filepath.Join(b.TempDir(), "hashes")
			f, err := os.Create(cache)
			if err != nil {
				b.Fatal(err)
			}
			if err := encodeHashCache(f, entries); err != nil {
				b.Fatal(err)
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
			st := statT(b, cache)
			b.SetBytes(st.Size)
			for b.Loop() {
				h := openTestHasher(b, cache, 0, laterClock)
				if len(h.index) != n {
					b.Fatalf("loaded %d entries, want %d", len(h.index), n)
				}
				closeOrFatal(b, h)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/entry")
		})
	}
}

// TestDigestsOf takes the caller's lstat as the files' identity: known
// files are served from the cache, a changed file's new lstat leads to a
// read, and non-regular files are refused by their lstat.
func TestDigestsOf(t *testing.T) {
	dir := t.TempDir()
	cacheFile := filepath.Join(t.TempDir(), "cache")
	paths, want := writeHashFiles(t, dir, 3, 100)
	infos := make([]fs.FileInfo, len(paths))
	for i, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		infos[i] = fi
	}
	h := openTestHasher(t, cacheFile, 2, laterClock)
	got, err := h.DigestsOf(context.Background(), paths, infos)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("cold DigestsOf = %v, %v; want %v", got, err, want)
	}
	got, err = h.DigestsOf(context.Background(), paths, infos)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("warm DigestsOf = %v, %v; want %v", got, err, want)
	}
	if cached, read := h.Stats(); cached != 3 || read != 3 {
		t.Errorf("Stats = %d cached, %d read; want 3 and 3", cached, read)
	}

	// The file changes and the caller lstats it anew: the new identity
	// is not the cached one, so the file is read.
	if err := os.WriteFile(paths[0], []byte("changed after the lstat, and longer than before: ....................................................................................................."), 0o644); err != nil {
		t.Fatal(err)
	}
	fresh, err := os.Lstat(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	got, err = h.DigestsOf(context.Background(), paths[:1], []fs.FileInfo{fresh})
	wantNew := digestOfFile(t, paths[0])
	if err != nil || got[0] != wantNew {
		t.Errorf("DigestsOf after a change = %v, %v; want %s", got, err, wantNew)
	}

	dirInfo, err := os.Lstat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.DigestsOf(context.Background(), []string{dir}, []fs.FileInfo{dirInfo}); !errors.Is(err, errNotRegular) {
		t.Errorf("DigestsOf of a directory = %v, want an error wrapping errNotRegular", err)
	}
	if _, err := h.DigestsOf(context.Background(), paths, infos[:1]); err == nil {
		t.Error("DigestsOf with fewer infos than paths succeeded")
	}
}

func digestOfFile(t *testing.T, p string) digest.Digest {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return digest.FromBytes(data)
}
