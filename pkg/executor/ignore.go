package executor

import "github.com/ocibuilder/builder/internal/source"

// ReadIgnoreFile returns the .dockerignore patterns for Options.Ignore: a
// "<Dockerfile>.dockerignore" beside the Dockerfile takes precedence over
// "<context>/.dockerignore". Symlinks are followed inside the file's own
// directory only (as BuildKit does), so no file outside it is read; a
// missing file, or anything but a regular file, means no patterns.
// dockerfile "-" (read from stdin) uses the context's file only.
func ReadIgnoreFile(contextDir, dockerfile string) ([]string, error) {
	return source.ReadIgnoreFile(contextDir, dockerfile)
}
