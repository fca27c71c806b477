package oci

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// dockerManifestItem is one entry of a docker archive's manifest.json.
type dockerManifestItem struct {
	Config   string   `json:"Config"`
	RepoTags []string `json:"RepoTags"`
	Layers   []string `json:"Layers"`
}

// archiveLayer is a layer as the archive holds it: uncompressed, named by
// its diff ID, read from the store blob src.
type archiveLayer struct {
	src    ocispec.Descriptor
	diffID digest.Digest
	size   int64
}

// archiveBlob is one blobs/sha256 entry: in-memory data, a store blob, or
// a layer to decompress.
type archiveBlob struct {
	digest digest.Digest
	data   []byte              // manifest
	stored *ocispec.Descriptor // config
	layer  *archiveLayer
}

// dockerArchivePlan is the content of a docker archive, in write order.
type dockerArchivePlan struct {
	blobs []archiveBlob // sorted by digest
	files []namedFile   // top-level files, sorted by name
}

// planDockerArchive reads what the docker archive of img holds and
// encodes its documents.
func planDockerArchive(ctx context.Context, img *Image, o WriteOptions) (*dockerArchivePlan, error) {
	_, _, config, err := img.storeManifest(ctx)
	if err != nil {
		return nil, err
	}
	tags, err := archiveTags(o.RefNames)
	if err != nil {
		return nil, err
	}
	layers, err := measureLayers(ctx, img)
	if err != nil {
		return nil, err
	}
	config = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: config.Digest, Size: config.Size}
	manifest, manifestDesc, err := uncompressedManifest(img, config, layers)
	if err != nil {
		return nil, err
	}
	files, err := dockerArchiveFiles(img, tags, config, manifestDesc)
	if err != nil {
		return nil, err
	}
	blobs := []archiveBlob{{digest: manifestDesc.Digest, data: manifest}, {digest: config.Digest, stored: &config}}
	for _, d := range slices.Sorted(maps.Keys(layers)) {
		if d == config.Digest || d == manifestDesc.Digest {
			continue // content hashing to that digest is those very bytes, already listed
		}
		blobs = append(blobs, archiveBlob{digest: d, layer: layers[d]})
	}
	slices.SortFunc(blobs, func(a, b archiveBlob) int { return strings.Compare(a.digest.String(), b.digest.String()) })
	return &dockerArchivePlan{blobs: blobs, files: files}, nil
}

// uncompressedManifest encodes the OCI manifest of img whose layers are
// the uncompressed ones the archive holds, and returns it with its
// descriptor.
func uncompressedManifest(img *Image, config ocispec.Descriptor, layers map[digest.Digest]*archiveLayer) ([]byte, ocispec.Descriptor, error) {
	ociLayers := make([]ocispec.Descriptor, len(img.Layers))
	for i, diffID := range img.Config.RootFS.DiffIDs {
		ociLayers[i] = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: diffID, Size: layers[diffID].size}
	}
	manifest, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    config,
		Layers:    ociLayers,
	})
	if err != nil {
		return nil, ocispec.Descriptor{}, fmt.Errorf("encoding image manifest: %w", err)
	}
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(manifest), Size: int64(len(manifest))}
	platform := img.Platform()
	desc.Platform = &platform
	return manifest, desc, nil
}

// dockerArchiveFiles encodes the top-level files of the archive: docker's
// manifest.json and repositories, and the OCI layout's index.json and
// oci-layout, naming the manifest manifestDesc by tags.
func dockerArchiveFiles(img *Image, tags []ImageName, config, manifestDesc ocispec.Descriptor) ([]namedFile, error) {
	diffIDs := img.Config.RootFS.DiffIDs
	paths := make([]string, len(img.Layers))
	for i, diffID := range diffIDs {
		paths[i] = blobPath(diffID)
	}
	repoTags := make([]string, 0, len(tags))
	repositories := map[string]map[string]string{}
	var entries []ocispec.Descriptor
	for _, n := range tags {
		familiar := familiarName(n)
		repoTags = append(repoTags, familiar+":"+n.Tag)
		if k := len(diffIDs); k > 0 {
			if repositories[familiar] == nil {
				repositories[familiar] = map[string]string{}
			}
			repositories[familiar][n.Tag] = diffIDs[k-1].Encoded()
		}
		e := manifestDesc
		e.Annotations = map[string]string{AnnotationImageName: n.String(), AnnotationRefName: n.Tag}
		entries = append(entries, e)
	}
	if len(entries) == 0 {
		entries = []ocispec.Descriptor{manifestDesc}
	}

	// The trailing newlines match what docker writes.
	manifestJSON, err := json.Marshal([]dockerManifestItem{{Config: blobPath(config.Digest), RepoTags: repoTags, Layers: paths}})
	if err != nil {
		return nil, fmt.Errorf("encoding manifest.json: %w", err)
	}
	index, ociLayout, err := layoutDocuments(entries)
	if err != nil {
		return nil, err
	}
	files := []namedFile{
		{ocispec.ImageIndexFile, index},
		{"manifest.json", append(manifestJSON, '\n')},
		{ocispec.ImageLayoutFile, ociLayout},
	}
	if len(repositories) > 0 {
		repos, err := json.Marshal(repositories)
		if err != nil {
			return nil, fmt.Errorf("encoding repositories: %w", err)
		}
		files = append(files, namedFile{"repositories", append(repos, '\n')})
	}
	return files, nil
}

// measureLayers decompresses each distinct layer once to learn its
// uncompressed size, checking it against its diff ID on the way.
func measureLayers(ctx context.Context, img *Image) (map[digest.Digest]*archiveLayer, error) {
	layers := map[digest.Digest]*archiveLayer{}
	for i, l := range img.Layers {
		diffID := img.Config.RootFS.DiffIDs[i]
		if _, ok := layers[diffID]; ok {
			continue
		}
		if err := checkDigest(diffID); err != nil {
			return nil, fmt.Errorf("layer %d: diff ID: %w", i, err)
		}
		n, err := copyLayer(ctx, img.Store, l, diffID, io.Discard)
		if err != nil {
			return nil, fmt.Errorf("layer %d (%s): %w", i, l.Digest, err)
		}
		layers[diffID] = &archiveLayer{src: l, diffID: diffID, size: n}
	}
	return layers, nil
}

// archiveTags returns the distinct tagged names among names, in order.
func archiveTags(names []string) ([]ImageName, error) {
	var out []ImageName
	seen := map[string]bool{}
	for _, raw := range names {
		n, err := ParseImageName(strings.TrimSpace(raw))
		if err != nil {
			return nil, err
		}
		if n.Tag == "" {
			continue
		}
		n.Digest = ""
		if seen[n.String()] {
			continue
		}
		seen[n.String()] = true
		out = append(out, n)
	}
	return out, nil
}

// familiarName is the repository as docker shows it: Docker Hub names
// without "docker.io/" and official images without "library/". A Hub
// path whose first part would read as a registry ("docker.io/a.b/c")
// keeps its domain, or it would name another registry when read back.
func familiarName(n ImageName) string {
	if n.Domain != "docker.io" {
		return n.Domain + "/" + n.Path
	}
	if rest, ok := strings.CutPrefix(n.Path, "library/"); ok && !strings.Contains(rest, "/") {
		return rest
	}
	if first, _, _ := strings.Cut(n.Path, "/"); strings.ContainsAny(first, ".:") || first == "localhost" {
		return n.Domain + "/" + n.Path
	}
	return n.Path
}

func blobPath(d digest.Digest) string {
	return path.Join(ocispec.ImageBlobsDir, d.Algorithm().String(), d.Encoded())
}
