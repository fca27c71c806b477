package oci

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/ocibuilder/builder/internal/fsutil"
)

// WriteLayoutTar writes img as an OCI image layout in tar form (what
// "oci-archive:" readers and "docker buildx --output type=oci" use) to w.
// The stream is reproducible: entries come in a fixed order (oci-layout,
// index.json, blobs/, blobs/sha256/, then blobs by digest) with owner 0:0,
// modes 0644/0755 and the config's creation time (or the Unix epoch) as
// mtime. w is not closed.
func WriteLayoutTar(ctx context.Context, img *Image, w io.Writer, o WriteOptions) error {
	return streamArchive(ctx, img, w, o, "OCI layout tar", planLayout, writeLayoutTar)
}

// WriteLayoutTarFile writes the layout tar of img to path atomically: the
// file appears complete or not at all.
func WriteLayoutTarFile(ctx context.Context, img *Image, path string, o WriteOptions) error {
	return writeArchiveFile(ctx, img, path, o, WriteLayoutTar)
}

// WriteDockerArchive writes img to w as the tar that `docker save` writes
// (Docker 25 and later) and that `docker load`, `podman load` and
// "docker-archive:" readers accept: manifest.json and repositories name
// the config and layers, each layer is an uncompressed tar at
// blobs/sha256/<diffID>, and oci-layout and index.json make the same tar
// an OCI image layout whose manifest lists those uncompressed layers.
//
// o.RefNames become the image's tags, written as docker writes them
// ("docker.io/library/app:1" as "app:1"); names without a tag are left
// out, since the format only records tags. Layers are decompressed from
// the store as they are written and checked against the config's diff
// IDs (reading each layer twice: once to learn its size, which the tar
// header needs first, once to write it). The stream is reproducible:
// entries in a fixed order, owner 0:0, and the config's creation time
// (or the Unix epoch) as mtime. w is not closed.
func WriteDockerArchive(ctx context.Context, img *Image, w io.Writer, o WriteOptions) error {
	return streamArchive(ctx, img, w, o, "docker archive", planDockerArchive, writeDockerArchive)
}

// WriteDockerArchiveFile writes the docker archive of img to path
// atomically: the file appears complete or not at all.
func WriteDockerArchiveFile(ctx context.Context, img *Image, path string, o WriteOptions) error {
	return writeArchiveFile(ctx, img, path, o, WriteDockerArchive)
}

// streamArchive plans the archive of img with plan, then streams it to w
// with write. What can be worked out before writing is worked out by plan,
// so that most failures (a bad name, a missing manifest, for the docker
// archive a damaged layer) come before the first byte. what names the form
// in errors.
func streamArchive[P any](ctx context.Context, img *Image, w io.Writer, o WriteOptions, what string,
	plan func(context.Context, *Image, WriteOptions) (P, error),
	write func(context.Context, *Store, *archiveWriter, P) error,
) error {
	p, err := plan(ctx, img, o)
	if err != nil {
		return fmt.Errorf("writing %s: %w", what, err)
	}
	a := newArchiveWriter(w, archiveTime(img))
	if err := write(ctx, img.Store, a, p); err != nil {
		return fmt.Errorf("writing %s: %w", what, err)
	}
	if err := a.close(); err != nil {
		return fmt.Errorf("writing %s: %w", what, err)
	}
	return nil
}

// writeArchiveFile writes the archive of img that write streams to path
// atomically: the file appears complete or not at all.
func writeArchiveFile(ctx context.Context, img *Image, path string, o WriteOptions,
	write func(context.Context, *Image, io.Writer, WriteOptions) error,
) error {
	return fsutil.WriteFileAtomic(path, 0o644, func(w io.Writer) error {
		return write(ctx, img, w, o)
	})
}

// archiveTime is the mtime of every archive entry: the config's creation
// time, whole seconds, or the Unix epoch, so that the stream is
// reproducible.
func archiveTime(img *Image) time.Time {
	if c := img.Config.Created; c != nil && c.Unix() > 0 {
		return c.UTC().Truncate(time.Second)
	}
	return time.Unix(0, 0).UTC()
}
