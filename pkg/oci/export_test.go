package oci

import (
	"testing"

	"github.com/ocibuilder/builder/pkg/layer"
)

// Test fixtures for the external test package, which can use tools
// (internal/testutil) that themselves import this package.

// NewTwoLayerImage returns an image whose upper layer deletes etc/hello
// from the base layer and adds etc/new.
func NewTwoLayerImage(t testing.TB, c layer.Compression) *Image {
	return testImage(t, newStore(t), c, baseLayer(), upperLayer())
}

// NewTestStore returns an empty store in a temporary directory.
func NewTestStore(t testing.TB) *Store { return newStore(t) }

// ListTree lists the paths under dir, directories with a trailing slash.
func ListTree(t testing.TB, dir string) []string { return listTree(t, dir) }
