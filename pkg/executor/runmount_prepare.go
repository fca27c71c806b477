package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/ocibuilder/builder/internal/cachemount"
	"github.com/ocibuilder/builder/internal/copier"
	"github.com/ocibuilder/builder/internal/snapshot"
	"github.com/ocibuilder/builder/internal/source"
	"github.com/ocibuilder/builder/pkg/executor/sandbox"
)

// preparedMounts are a RUN step's bind, cache and tmpfs mounts made
// ready for its sandbox, with what must be undone after the step.
type preparedMounts struct {
	mounts  []sandbox.Mount
	undo    []func() error
	scratch string // where sources are copied or staged; inside the step's scratch
}

// release undoes what prepareMounts made: snapshots released, caches
// handed back.
func (pm *preparedMounts) release() error {
	var errs []error
	for i := len(pm.undo) - 1; i >= 0; i-- {
		errs = append(errs, pm.undo[i]())
	}
	pm.undo = nil
	return errors.Join(errs...)
}

// prepareMounts makes every bind, cache and tmpfs mount of a step ready:
// caches acquired as their sharing mode allows, bind sources located and,
// where the source is not a plain host directory, given a snapshot of
// their own from the build's snapshotter. scratch is the step's private
// scratch directory.
func (b *builder) prepareMounts(ctx context.Context, ms stepMounts, scratch string, log io.Writer) (*preparedMounts, error) {
	pm := &preparedMounts{scratch: filepath.Join(scratch, "mounts")}
	for i, fm := range ms.fs {
		var m sandbox.Mount
		var err error
		switch fm.m.Type {
		case instructions.MountTypeTmpfs:
			m = sandbox.Mount{Tmpfs: &sandbox.Tmpfs{Size: fm.m.SizeLimit}}
		case instructions.MountTypeCache:
			m, err = b.prepareCache(ctx, pm, fm)
		default:
			m, err = b.prepareBind(ctx, pm, fm, i, log)
		}
		if err != nil {
			return nil, errors.Join(err, pm.release())
		}
		m.Target = fm.target
		pm.mounts = append(pm.mounts, m)
	}
	for i, sm := range ms.ssh {
		m, err := pm.serveSSH(i, sm)
		if err != nil {
			return nil, errors.Join(err, pm.release())
		}
		pm.mounts = append(pm.mounts, m)
	}
	return pm, nil
}

// serveSSH serves the i-th ssh mount's agent on a socket in the scratch
// directory, bound into the sandbox at its target. The socket is made
// through /proc/self/fd, so that a deep state directory does not exceed
// the length a socket's path may have.
func (pm *preparedMounts) serveSSH(i int, sm sshMount) (sandbox.Mount, error) {
	if err := os.MkdirAll(pm.scratch, 0o700); err != nil {
		return sandbox.Mount{}, err
	}
	d, err := os.Open(pm.scratch)
	if err != nil {
		return sandbox.Mount{}, err
	}
	defer d.Close()
	name := "ssh-" + strconv.Itoa(i) + ".sock"
	l, err := sm.agent.Listen(fmt.Sprintf("/proc/self/fd/%d/%s", d.Fd(), name), sm.uid, sm.gid, sm.mode)
	if err != nil {
		return sandbox.Mount{}, fmt.Errorf("RUN --mount=type=ssh: %w", err)
	}
	pm.undo = append(pm.undo, l.Close)
	return sandbox.Mount{Target: sm.target, Source: filepath.Join(pm.scratch, name)}, nil
}

// prepareCache acquires a cache mount's directory.
func (b *builder) prepareCache(ctx context.Context, pm *preparedMounts, fm *fsMount) (sandbox.Mount, error) {
	m := fm.m
	spec := cachemount.Spec{ID: m.CacheID, Sharing: fm.sharing, Scope: fm.identity}
	if spec.ID == "" {
		spec.ID = path.Clean(m.Target) // BuildKit's default: the target as written
	}
	if m.Mode != nil {
		spec.Mode = fs.FileMode(*m.Mode)
	}
	if m.UID != nil {
		spec.UID = int(*m.UID)
	}
	if m.GID != nil {
		spec.GID = int(*m.GID)
	}
	if fm.src != nil {
		spec.Populate = func(dir string) error {
			src, err := fm.src.locate(ctx)
			if err != nil {
				return err
			}
			sub, err := copySource(ctx, fm, src, dir)
			if err == nil && sub != "" {
				err = fmt.Errorf("%s: from= source %s is not a directory", fm.src.op, fm.m.Source)
			}
			return err
		}
	}
	h, err := cachemount.Open(b.state.dir.CacheMountsDir()).Acquire(ctx, spec)
	if err != nil {
		return sandbox.Mount{}, fmt.Errorf("RUN --mount=type=cache,id=%s: %w", spec.ID, err)
	}
	pm.undo = append(pm.undo, h.Release)
	return sandbox.Mount{Source: h.Dir, ReadOnly: m.ReadOnly}, nil
}

// prepareBind locates a bind mount's source. A context's directory is
// bound as it is when its .dockerignore hides nothing and the mount is
// read-only; otherwise the step gets a copy of the source of its own, so
// that a write never reaches the host and an ignored file never shows. A
// stage's or an image's files are a snapshot from the build's
// snapshotter, as the step's own root is.
func (b *builder) prepareBind(ctx context.Context, pm *preparedMounts, fm *fsMount, i int, log io.Writer) (sandbox.Mount, error) {
	readOnly := fm.m.ReadOnly
	src, err := fm.src.locate(ctx)
	if err != nil {
		return sandbox.Mount{}, err
	}
	if src.stage == nil {
		if cx, ok := src.fsys.(*source.Context); ok && !cx.Filtered() && readOnly {
			return sandbox.Mount{Source: cx.Root(), Subpath: src.path, ReadOnly: true}, nil
		}
		tree := filepath.Join(pm.scratch, strconv.Itoa(i))
		sub, err := copySource(ctx, fm, src, tree)
		if err != nil {
			return sandbox.Mount{}, err
		}
		return sandbox.Mount{Source: tree, Subpath: sub, ReadOnly: readOnly}, nil
	}
	snapper, err := b.snapshotter(log)
	if err != nil {
		return sandbox.Mount{}, err
	}
	snap, err := snapper.Prepare(ctx, src.fsys.(*snapshot.Stack), src.stage.cfg.RootFS.DiffIDs)
	if err != nil {
		return sandbox.Mount{}, err
	}
	pm.undo = append(pm.undo, snap.Release)
	root := sandboxRootfs(snap.Mounts())
	return sandbox.Mount{Source: root.Dir, Overlay: root.Overlay, Subpath: src.path, ReadOnly: readOnly}, nil
}

// copySource copies the located source src of a mount into the new
// directory dir, through the copier, as a COPY of it to "/" would write
// it: a directory's contents at dir, a file under its own name. It
// returns where the source landed inside dir ("" for dir itself).
func copySource(ctx context.Context, fm *fsMount, src mountSrc, dir string) (string, error) {
	fi, err := src.fsys.Lstat(src.path)
	if err != nil {
		return "", fmt.Errorf("%s: source %s: %w", fm.src.op, fm.m.Source, err)
	}
	dst := "" // the copy's root, in the copier's root-relative paths
	if !fi.IsDir() {
		dst = path.Base(src.path)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	c, err := copier.New(ctx, dir, snapshot.NewStack(), copier.Options{KeepOwner: src.keepOwner})
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.CopyInto(src.fsys, src.path, dst); err != nil {
		return "", fmt.Errorf("%s: copying %s: %w", fm.src.op, fm.m.Source, err)
	}
	if err := c.Finish(); err != nil {
		return "", err
	}
	return dst, nil
}
