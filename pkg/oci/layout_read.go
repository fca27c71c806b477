package oci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// maxIndexDepth bounds nested image indexes; real images use one level.
const maxIndexDepth = 4

// maxIndexEntries bounds how many manifests a layout may list in total.
const maxIndexEntries = 4096

// ReadLayout imports one image from the OCI image layout directory dir
// into s and returns it.
//
// ref selects the image: "" means the only image in the layout; a name is
// matched against the org.opencontainers.image.ref.name and
// io.containerd.image.name annotations (so both "v1" and "app:v1" work); a
// "sha256:..." digest names a manifest or index directly. Nested indexes
// are resolved with platform, whose empty fields match anything.
// Attestation manifests that BuildKit adds to indexes are never selected.
//
// Every blob is copied (never linked, since the layout may change later)
// and checked against its digest and size. JSON documents are limited to
// 8 MiB. Errors name dir and ref and wrap ErrNotFound, ErrAmbiguous,
// ErrInvalid, ErrTooLarge or *DigestMismatchError.
func ReadLayout(ctx context.Context, dir, ref string, platform ocispec.Platform, s *Store) (*Image, error) {
	img, err := readLayout(ctx, layoutReader{dir: dir}, ref, platform, s)
	if err != nil {
		return nil, fmt.Errorf("reading OCI layout %s (ref %q): %w", dir, ref, err)
	}
	return img, nil
}

func readLayout(ctx context.Context, lr layoutReader, ref string, platform ocispec.Platform, s *Store) (*Image, error) {
	if err := lr.checkLayoutFile(); err != nil {
		return nil, err
	}
	indexJSON, err := lr.readFile(ocispec.ImageIndexFile, maxJSONSize)
	if err != nil {
		return nil, err
	}
	var index ocispec.Index
	if err := json.Unmarshal(indexJSON, &index); err != nil {
		return nil, fmt.Errorf("decoding %s: %w: %w", ocispec.ImageIndexFile, ErrInvalid, err)
	}
	roots, err := selectRoots(ctx, lr, index.Manifests, ref)
	if err != nil {
		return nil, err
	}
	leaves, err := expandManifests(ctx, lr, roots)
	if err != nil {
		return nil, err
	}
	chosen, err := choosePlatform(ctx, lr, leaves, platform)
	if err != nil {
		return nil, err
	}
	return importImage(ctx, lr, chosen, platform, s)
}

// selectRoots returns the index entries ref names.
func selectRoots(ctx context.Context, lr layoutReader, entries []ocispec.Descriptor, ref string) ([]ocispec.Descriptor, error) {
	if len(entries) > maxIndexEntries {
		return nil, fmt.Errorf("%w: index lists %d manifests", ErrTooLarge, len(entries))
	}
	if ref == "" {
		if len(entries) == 0 {
			return nil, fmt.Errorf("%w: index lists no manifests", ErrNotFound)
		}
		return entries, nil
	}
	if d, err := digest.Parse(ref); err == nil {
		return findDigest(ctx, lr, entries, d, 0)
	}
	var full string
	if n, err := ParseImageName(ref); err == nil {
		full = n.String()
	}
	var out []ocispec.Descriptor
	for _, e := range entries {
		a := e.Annotations
		if a[AnnotationRefName] == ref || a[AnnotationImageName] == ref || (full != "" && a[AnnotationImageName] == full) {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no index entry named %q", ErrNotFound, ref)
	}
	return out, nil
}

// findDigest finds d among entries or inside the indexes they list.
func findDigest(ctx context.Context, lr layoutReader, entries []ocispec.Descriptor, d digest.Digest, depth int) ([]ocispec.Descriptor, error) {
	for _, e := range entries {
		if e.Digest == d {
			return []ocispec.Descriptor{e}, nil
		}
	}
	if depth < maxIndexDepth {
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if !isIndexType(e.MediaType) {
				continue
			}
			child, err := lr.readIndex(e)
			if err != nil {
				return nil, err
			}
			found, err := findDigest(ctx, lr, child.Manifests, d, depth+1)
			if err == nil {
				return found, nil
			}
			if !errors.Is(err, ErrNotFound) {
				return nil, err
			}
		}
	}
	return nil, fmt.Errorf("%w: no manifest with digest %s", ErrNotFound, d)
}

// expandManifests replaces indexes by the image manifests they list, drops
// attestations and duplicates, and keeps the first-seen order.
func expandManifests(ctx context.Context, lr layoutReader, roots []ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	var out []ocispec.Descriptor
	seen := map[digest.Digest]bool{}
	total := 0
	var walk func(entries []ocispec.Descriptor, depth int) error
	walk = func(entries []ocispec.Descriptor, depth int) error {
		total += len(entries)
		if total > maxIndexEntries {
			return fmt.Errorf("%w: more than %d manifests in nested indexes", ErrTooLarge, maxIndexEntries)
		}
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return err
			}
			if isAttestation(e) || seen[e.Digest] {
				continue
			}
			seen[e.Digest] = true
			if !isIndexType(e.MediaType) {
				out = append(out, e)
				continue
			}
			if depth >= maxIndexDepth {
				return fmt.Errorf("%w: image indexes nested deeper than %d", ErrInvalid, maxIndexDepth)
			}
			child, err := lr.readIndex(e)
			if err != nil {
				return err
			}
			if err := walk(child.Manifests, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(roots, 0); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no image manifest", ErrNotFound)
	}
	return out, nil
}

// choosePlatform picks the single manifest matching platform.
func choosePlatform(ctx context.Context, lr layoutReader, leaves []ocispec.Descriptor, want ocispec.Platform) (ocispec.Descriptor, error) {
	filter := want.OS != "" || want.Architecture != ""
	var match []ocispec.Descriptor
	for _, l := range leaves {
		if err := ctx.Err(); err != nil {
			return ocispec.Descriptor{}, err
		}
		if !filter {
			match = append(match, l)
			continue
		}
		have, err := lr.leafPlatform(l)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		if platformMatches(want, have) {
			match = append(match, l)
		}
	}
	switch {
	case len(match) == 1:
		return match[0], nil
	case len(match) == 0:
		return ocispec.Descriptor{}, fmt.Errorf("%w: no manifest for platform %s", ErrNotFound, platformString(want))
	case filter:
		return ocispec.Descriptor{}, fmt.Errorf("%w: %d manifests match platform %s", ErrAmbiguous, len(match), platformString(want))
	}
	return ocispec.Descriptor{}, fmt.Errorf("%w: %d manifests and no platform given", ErrAmbiguous, len(match))
}

// importImage copies the manifest's config and layers into s.
func importImage(ctx context.Context, lr layoutReader, desc ocispec.Descriptor, want ocispec.Platform, s *Store) (*Image, error) {
	m, err := lr.readManifest(desc)
	if err != nil {
		return nil, err
	}
	cfg, err := lr.readConfig(m.Config)
	if err != nil {
		return nil, err
	}
	img := &Image{Config: cfg, Store: s}
	if (want.OS != "" || want.Architecture != "") && !platformMatches(want, img.Platform()) {
		return nil, fmt.Errorf("%w: manifest %s is for %s, not %s", ErrInvalid, desc.Digest, platformString(img.Platform()), platformString(want))
	}
	if cfg.RootFS.Type != "layers" {
		return nil, fmt.Errorf("%w: config %s has rootfs type %q", ErrInvalid, m.Config.Digest, cfg.RootFS.Type)
	}
	if len(m.Layers) != len(cfg.RootFS.DiffIDs) {
		return nil, fmt.Errorf("%w: manifest %s has %d layers but its config %d diff IDs", ErrInvalid, desc.Digest, len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	for i, l := range m.Layers {
		if compressionOf(l.MediaType) == compressionUnknown {
			return nil, fmt.Errorf("%w: layer %d has unsupported media type %q", ErrInvalid, i, l.MediaType)
		}
		if err := lr.importBlob(ctx, l, s); err != nil {
			return nil, fmt.Errorf("importing layer %d: %w", i, err)
		}
		img.Layers = append(img.Layers, ocispec.Descriptor{
			MediaType:   ociLayerMediaType(l.MediaType),
			Digest:      l.Digest,
			Size:        l.Size,
			Annotations: l.Annotations,
		})
	}
	return img, nil
}

func isIndexType(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == mediaTypeDockerManifestList
}

func isManifestType(mt string) bool {
	return mt == ocispec.MediaTypeImageManifest || mt == mediaTypeDockerManifest
}

// isAttestation recognizes the provenance/SBOM manifests BuildKit puts in
// an index next to the image.
func isAttestation(d ocispec.Descriptor) bool {
	if d.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
		return true
	}
	return d.Platform != nil && d.Platform.OS == "unknown" && d.Platform.Architecture == "unknown"
}

// layoutReader reads files of one layout directory. Blob paths are only
// ever built from validated digests.
type layoutReader struct {
	dir string
}

func (lr layoutReader) checkLayoutFile() error {
	data, err := lr.readFile(ocispec.ImageLayoutFile, 4096)
	if err != nil {
		return err
	}
	var l ocispec.ImageLayout
	if err := json.Unmarshal(data, &l); err != nil {
		return fmt.Errorf("decoding %s: %w: %w", ocispec.ImageLayoutFile, ErrInvalid, err)
	}
	if !strings.HasPrefix(l.Version, "1.") {
		return fmt.Errorf("%w: unsupported image layout version %q", ErrInvalid, l.Version)
	}
	return nil
}

// readFile reads a regular file of at most max bytes. Opening without
// blocking and checking the type keeps a FIFO or device planted in the
// layout from hanging or flooding the reader.
func (lr layoutReader) readFile(rel string, max int64) ([]byte, error) {
	f, err := lr.open(rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", rel, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("reading %s: %w: limit %d bytes", rel, ErrTooLarge, max)
	}
	return data, nil
}

func (lr layoutReader) open(rel string) (*os.File, error) {
	p := filepath.Join(lr.dir, rel)
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("opening %s: %w", rel, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", rel, err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("inspecting %s: %w", rel, err)
	}
	if !fi.Mode().IsRegular() {
		_ = f.Close()
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrInvalid, rel)
	}
	return f, nil
}

func blobRel(d digest.Digest) (string, error) {
	if err := checkDigest(d); err != nil {
		return "", err
	}
	return filepath.Join(ocispec.ImageBlobsDir, "sha256", d.Encoded()), nil
}

// readJSONBlob reads and verifies a small blob.
func (lr layoutReader) readJSONBlob(desc ocispec.Descriptor) ([]byte, error) {
	rel, err := blobRel(desc.Digest)
	if err != nil {
		return nil, err
	}
	if desc.Size < 0 || desc.Size > maxJSONSize {
		return nil, fmt.Errorf("blob %s: %w: declared size %d, limit %d", desc.Digest, ErrTooLarge, desc.Size, maxJSONSize)
	}
	data, err := lr.readFile(rel, desc.Size)
	if errors.Is(err, ErrTooLarge) {
		return nil, fmt.Errorf("blob %s: %w", desc.Digest, &DigestMismatchError{Expected: desc.Digest, ExpectedSize: desc.Size, ActualSize: -1})
	}
	if err != nil {
		return nil, err
	}
	if int64(len(data)) != desc.Size {
		return nil, fmt.Errorf("blob %s: %w", desc.Digest, &DigestMismatchError{Expected: desc.Digest, ExpectedSize: desc.Size, ActualSize: int64(len(data))})
	}
	if got := digest.FromBytes(data); got != desc.Digest {
		return nil, fmt.Errorf("blob %s: %w", desc.Digest, &DigestMismatchError{Expected: desc.Digest, Actual: got, ExpectedSize: -1, ActualSize: -1})
	}
	return data, nil
}

// docHeader is the part of a manifest or index that says which it is.
type docHeader struct {
	MediaType string `json:"mediaType"`
}

func (lr layoutReader) readIndex(desc ocispec.Descriptor) (*ocispec.Index, error) {
	data, err := lr.readJSONBlob(desc)
	if err != nil {
		return nil, err
	}
	var idx ocispec.Index
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("decoding index %s: %w: %w", desc.Digest, ErrInvalid, err)
	}
	if idx.MediaType != "" && !isIndexType(idx.MediaType) {
		return nil, fmt.Errorf("%w: %s has media type %q, not an index", ErrInvalid, desc.Digest, idx.MediaType)
	}
	return &idx, nil
}

func (lr layoutReader) readManifest(desc ocispec.Descriptor) (*ocispec.Manifest, error) {
	data, err := lr.readJSONBlob(desc)
	if err != nil {
		return nil, err
	}
	var h docHeader
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("decoding manifest %s: %w: %w", desc.Digest, ErrInvalid, err)
	}
	if h.MediaType != "" && !isManifestType(h.MediaType) {
		return nil, fmt.Errorf("%w: %s has media type %q, not an image manifest", ErrInvalid, desc.Digest, h.MediaType)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("decoding manifest %s: %w: %w", desc.Digest, ErrInvalid, err)
	}
	if m.SchemaVersion != 2 {
		return nil, fmt.Errorf("%w: manifest %s has schema version %d", ErrInvalid, desc.Digest, m.SchemaVersion)
	}
	return &m, nil
}

func (lr layoutReader) readConfig(desc ocispec.Descriptor) (dockerspec.DockerOCIImage, error) {
	var cfg dockerspec.DockerOCIImage
	data, err := lr.readJSONBlob(desc)
	if err != nil {
		return cfg, fmt.Errorf("reading config: %w", err)
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return cfg, fmt.Errorf("decoding config %s: %w: %w", desc.Digest, ErrInvalid, err)
	}
	return cfg, nil
}

// leafPlatform returns a manifest's platform from its index entry or, when
// the entry has none, from its config.
func (lr layoutReader) leafPlatform(desc ocispec.Descriptor) (ocispec.Platform, error) {
	if desc.Platform != nil {
		return *desc.Platform, nil
	}
	m, err := lr.readManifest(desc)
	if err != nil {
		return ocispec.Platform{}, err
	}
	cfg, err := lr.readConfig(m.Config)
	if err != nil {
		return ocispec.Platform{}, err
	}
	return ocispec.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}, nil
}

// importBlob copies a blob into s, verifying digest and size as it goes.
func (lr layoutReader) importBlob(ctx context.Context, desc ocispec.Descriptor, s *Store) error {
	rel, err := blobRel(desc.Digest)
	if err != nil {
		return err
	}
	if desc.Size < 0 {
		return fmt.Errorf("%w: blob %s has negative size", ErrInvalid, desc.Digest)
	}
	if s.Has(desc.Digest) {
		if size, err := s.Size(desc.Digest); err == nil && size == desc.Size {
			return nil
		}
	}
	f, err := lr.open(rel)
	if err != nil {
		return err
	}
	defer f.Close()
	w, err := s.Writer(ctx)
	if err != nil {
		return err
	}
	defer w.Close()
	n, err := io.Copy(w, io.LimitReader(f, desc.Size+1))
	if err != nil {
		return fmt.Errorf("copying blob %s: %w", desc.Digest, err)
	}
	if n != desc.Size {
		return fmt.Errorf("copying blob %s: %w", desc.Digest, &DigestMismatchError{Expected: desc.Digest, Actual: w.Digest(), ExpectedSize: desc.Size, ActualSize: n})
	}
	if _, _, err := w.Commit(desc.Digest); err != nil {
		return err
	}
	return nil
}
