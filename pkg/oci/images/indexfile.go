package images

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/internal/fsutil"
	"github.com/ocibuilder/builder/pkg/oci"
)

// indexFileVersion is the format version of images.json.
const indexFileVersion = 1

// maxIndexFileSize bounds images.json; at a few hundred bytes per image
// this is far more names than any store holds.
const maxIndexFileSize = 64 << 20

// indexFile is the content of images.json. A map keyed by the normalized
// name makes a name unique by construction, and encoding/json writes map
// keys sorted, so the file is stable.
type indexFile struct {
	SchemaVersion int                           `json:"schemaVersion"`
	Images        map[string]ocispec.Descriptor `json:"images"`
}

// readIndexFile returns the images recorded at path; a missing file is an
// empty index.
func readIndexFile(path string) (map[string]ocispec.Descriptor, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]ocispec.Descriptor{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("opening image index %s: %w", path, err)
	}
	data, readErr := io.ReadAll(io.LimitReader(f, maxIndexFileSize+1))
	closeErr := f.Close()
	if readErr != nil {
		return nil, fmt.Errorf("reading image index %s: %w", path, readErr)
	}
	if closeErr != nil {
		return nil, fmt.Errorf("closing image index %s: %w", path, closeErr)
	}
	if len(data) > maxIndexFileSize {
		return nil, fmt.Errorf("reading image index %s: %w: limit %d bytes", path, oci.ErrTooLarge, maxIndexFileSize)
	}
	images, err := decodeIndexFile(data)
	if err != nil {
		return nil, fmt.Errorf("reading image index %s: %w", path, err)
	}
	return images, nil
}

// decodeIndexFile parses and checks images.json. Every name must be in
// normalized form and every descriptor must name a manifest or index by a
// sha256 digest, since the names and digests end up in file paths and in
// output.
func decodeIndexFile(data []byte) (map[string]ocispec.Descriptor, error) {
	var f indexFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%w: %w", oci.ErrInvalid, err)
	}
	if f.SchemaVersion != indexFileVersion {
		return nil, fmt.Errorf("%w: unsupported schema version %d", oci.ErrInvalid, f.SchemaVersion)
	}
	if f.Images == nil {
		f.Images = map[string]ocispec.Descriptor{}
	}
	for name, desc := range f.Images {
		n, err := tagName(name)
		if err != nil {
			return nil, err
		}
		if n != name {
			return nil, fmt.Errorf("%w: image name %q is not normalized", oci.ErrInvalid, name)
		}
		if err := checkManifestDesc(desc); err != nil {
			return nil, fmt.Errorf("image %s: %w", name, err)
		}
	}
	return f.Images, nil
}

// writeIndexFile replaces path with images, atomically.
func writeIndexFile(path string, images map[string]ocispec.Descriptor) error {
	data, err := json.MarshalIndent(indexFile{SchemaVersion: indexFileVersion, Images: images}, "", "\t")
	if err != nil {
		return fmt.Errorf("encoding image index: %w", err)
	}
	data = append(data, '\n')
	return fsutil.WriteFileAtomic(path, 0o644, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// checkManifestDesc accepts a descriptor of an image manifest or index.
func checkManifestDesc(desc ocispec.Descriptor) error {
	if !oci.IsManifestMediaType(desc.MediaType) && !oci.IsIndexMediaType(desc.MediaType) {
		return fmt.Errorf("%w: media type %q is neither an image manifest nor an index", oci.ErrInvalid, desc.MediaType)
	}
	if err := checkDigest(desc.Digest); err != nil {
		return err
	}
	if desc.Size <= 0 || desc.Size > maxJSONSize {
		return fmt.Errorf("%w: manifest size %d out of range", oci.ErrInvalid, desc.Size)
	}
	return nil
}
