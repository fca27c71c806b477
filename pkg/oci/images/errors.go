package images

import "github.com/ocibuilder/builder/pkg/oci"

// ErrNotFound reports a name or digest that the index does not hold, or a
// blob missing from the store. It is oci.ErrNotFound, so either can be
// tested with errors.Is.
var ErrNotFound = oci.ErrNotFound

// ErrAmbiguous reports a digest prefix that matches several images. It is
// oci.ErrAmbiguous.
var ErrAmbiguous = oci.ErrAmbiguous
