// Package fsutil holds the small filesystem primitives shared by the whole
// builder: atomic file and directory replacement and a file lock for the
// state directory.
//
// Everything here is written so that a reader in another process sees either
// the old content or the complete new content, never a partial write.
package fsutil
