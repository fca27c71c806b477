// Package fsutil holds the small filesystem primitives shared by the whole
// builder: atomic file and directory replacement, a file lock for the
// state directory, and the Unix numbering of file modes.
//
// Everything here that writes is written so that a reader in another
// process sees either the old content or the complete new content, never a
// partial write.
package fsutil
