package images

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/ocibuilder/builder/internal/fsutil"
	"github.com/ocibuilder/builder/pkg/statedir"
)

// Scratch entries of <root>/tmp that Prune knows.
const (
	// prunePrefix names a directory Prune renamed out of the way; one
	// left behind means a prune was interrupted.
	prunePrefix = "prune-"
	// ingestPrefix names a blob being written by oci.Store.
	ingestPrefix = "ingest-"
)

// staleIngestAge is how long an ingest file must have been left untouched
// before Prune deletes it. Writers that hold LockShared cannot be running
// during a prune, but a store user that does not would lose a blob in
// progress, so only files no one has written for a long time go.
const staleIngestAge = time.Hour

// sweeper removes what the mark phase did not keep.
type sweeper struct {
	state  *statedir.State
	keep   keepSet
	report *PruneReport
}

func (sw *sweeper) blobDir() string  { return sw.state.BlobDir() }
func (sw *sweeper) layerDir() string { return sw.state.LayersDir() }
func (sw *sweeper) tmpDir() string   { return sw.state.TmpDir() }

// blobs removes the blobs not kept. Files whose names are not sha256 hex
// digests are not the store's and are left alone.
func (sw *sweeper) blobs(ctx context.Context) error {
	return sweepDir(ctx, sw.blobDir(), func(e fs.DirEntry) (bool, error) {
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if !isHexDigest(e.Name()) || sw.keep.blobs[d] || !e.Type().IsRegular() {
			return false, nil
		}
		p := filepath.Join(sw.blobDir(), e.Name())
		fi, err := os.Lstat(p)
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("inspecting blob %s: %w", d, err)
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return false, fmt.Errorf("removing blob %s: %w", d, err)
		}
		sw.report.Blobs++
		sw.report.Bytes += fi.Size()
		return true, nil
	})
}

// layerDirs removes extracted layers that no kept image uses and all
// chain directories.
func (sw *sweeper) layerDirs(ctx context.Context) error {
	return sweepDir(ctx, sw.layerDir(), func(e fs.DirEntry) (bool, error) {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, statedir.ChainPrefix):
		case isHexDigest(name) && !sw.keep.diffIDs[digest.NewDigestFromEncoded(digest.SHA256, name)]:
		default:
			return false, nil
		}
		n, err := sw.removeDir(filepath.Join(sw.layerDir(), name))
		if err != nil {
			return false, err
		}
		sw.report.LayerDirs++
		sw.report.Bytes += n
		return true, nil
	})
}

// sweepDir hands each entry of dir, which may be missing, to remove, which
// reports whether it removed the entry, and then syncs dir if anything was
// removed, so that the removals survive a crash.
func sweepDir(ctx context.Context, dir string, remove func(fs.DirEntry) (bool, error)) error {
	ents, err := readDirIfExists(dir)
	if err != nil {
		return err
	}
	removed := false
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return err
		}
		ok, err := remove(e)
		if err != nil {
			return err
		}
		removed = removed || ok
	}
	if removed {
		return fsutil.SyncDir(dir)
	}
	return nil
}

// removeDir renames dir into the scratch space under a fresh name and then
// deletes it, so that no reader ever finds a half-deleted layer under its
// real name. It returns the space the tree held.
func (sw *sweeper) removeDir(dir string) (int64, error) {
	if err := os.MkdirAll(sw.tmpDir(), 0o755); err != nil {
		return 0, fmt.Errorf("creating scratch directory: %w", err)
	}
	// A fresh directory reserves a unique name; the tree moves inside it.
	holder, err := os.MkdirTemp(sw.tmpDir(), prunePrefix)
	if err != nil {
		return 0, fmt.Errorf("reserving scratch name for %s: %w", dir, err)
	}
	dst := filepath.Join(holder, "d")
	if err := os.Rename(dir, dst); err != nil {
		_ = os.Remove(holder) // empty and ours; the rename error is what matters
		return 0, fmt.Errorf("moving %s out of the way: %w", dir, err)
	}
	n := treeSize(dst)
	if err := removeTree(holder); err != nil {
		return 0, err
	}
	return n, nil
}

// tmp removes the scratch entries of builds that died, directories an
// interrupted prune left behind and long-abandoned blob ingests.
func (sw *sweeper) tmp(ctx context.Context) error {
	n, err := sw.state.RemoveStale(ctx)
	sw.report.TempEntries += n
	if err != nil {
		return err
	}
	ents, err := readDirIfExists(sw.tmpDir())
	if err != nil {
		return err
	}
	cutoff := time.Now().Add(-staleIngestAge)
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := filepath.Join(sw.tmpDir(), e.Name())
		switch {
		case strings.HasPrefix(e.Name(), prunePrefix) && e.IsDir():
			// Prune runs alone (exclusive state lock), so a prune-*
			// directory now is one an earlier prune did not finish.
			if err := removeTree(p); err != nil {
				return err
			}
		case strings.HasPrefix(e.Name(), ingestPrefix) && e.Type().IsRegular():
			fi, err := e.Info()
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return fmt.Errorf("inspecting %s: %w", p, err)
			}
			if fi.ModTime().After(cutoff) {
				continue
			}
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("removing abandoned ingest %s: %w", p, err)
			}
		default:
			continue
		}
		sw.report.TempEntries++
	}
	return nil
}

func readDirIfExists(dir string) ([]fs.DirEntry, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	return ents, nil
}

// isHexDigest reports a lowercase sha256 hex string, the only names the
// store and the layer cache create.
func isHexDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
