package cache

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"
)

// Version is part of every key. It changes whenever what a step produces
// for the same inputs changes (layer format, compression defaults), which
// retires all earlier records at once.
const Version = 2

// Input is the preimage of a step key: everything the step's result
// depends on. Its canonical JSON, hashed, is the key.
type Input struct {
	Version int `json:"v"`
	// Parent is the key of the stage's previous layer step, or the
	// identity of the stage's base for the first one.
	Parent digest.Digest `json:"parent"`
	// Base names the stage's base for its first layer step
	// ("busybox@sha256:…", "scratch", "stage build"); empty otherwise.
	Base string `json:"base,omitempty"`
	// Op is the instruction: RUN, COPY, ADD or WORKDIR.
	Op string `json:"op"`
	// Args are the expanded words and result-affecting flags.
	Args []string `json:"args"`
	// BuildArgs are the stage's ARGs the step sees, NAME=value.
	BuildArgs []string `json:"buildArgs,omitempty"`
	// Env, User, Workdir and Platform are the parts of the image config
	// the step depends on.
	Env      []string `json:"env,omitempty"`
	User     string   `json:"user,omitempty"`
	Workdir  string   `json:"workdir,omitempty"`
	Platform string   `json:"platform,omitempty"`
	Network  string   `json:"network,omitempty"`
	// Sources are the identities of what a COPY or ADD reads other than
	// context files: "stage NAME KEY", "image NAME DIGEST", "url URL
	// DIGEST".
	Sources []string `json:"sources,omitempty"`
	// Files digests the list of context files the step copies, with
	// their content and image-visible metadata; see FilesDigest.
	Files digest.Digest `json:"files,omitempty"`
	// Epoch is SOURCE_DATE_EPOCH (Unix seconds), which clamps the
	// layer's mtimes; empty when unset.
	Epoch string `json:"epoch,omitempty"`
	// Layer is the layer encoding: compression and level ("gzip",
	// "zstd-3"), since an output never recompresses a cached layer.
	Layer string `json:"layer,omitempty"`
}

// Key is the step key of in: sha256 of its canonical JSON.
func (in *Input) Key() digest.Digest {
	in.Version = Version
	raw, err := json.Marshal(in)
	if err != nil {
		// Input holds only strings and slices of them.
		panic(fmt.Sprintf("encoding a cache key: %v", err))
	}
	return digest.FromBytes(raw)
}

// File is one context entry a COPY or ADD reads, as it will land.
type File struct {
	Path   string        `json:"p"`
	Mode   uint32        `json:"m"` // fs.FileMode bits, after --chmod
	Link   string        `json:"l,omitempty"`
	Digest digest.Digest `json:"d,omitempty"` // regular files
}

// FilesDigest digests a file list in order.
func FilesDigest(files []File) digest.Digest {
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%q %o %q %s\n", f.Path, f.Mode, f.Link, f.Digest)
	}
	return digest.NewDigest(digest.SHA256, h)
}
