package fsutil

import "os"

// OpenBeneath opens the file at the relative path p below the directory
// dir for reading, refusing any symlink on the way and any way out of dir:
// Dir.OpenBeneath on dir.
func OpenBeneath(dir, p string) (*os.File, error) {
	d, err := OpenDir(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.OpenBeneath(p)
}
