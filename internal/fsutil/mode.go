package fsutil

import "io/fs"

// UnixMode returns the permission bits of m together with setuid, setgid
// and sticky, numbered as chmod(2) and tar headers number them (0o4000,
// 0o2000, 0o1000), without the file type: fs.FileMode keeps those three in
// bits of its own.
func UnixMode(m fs.FileMode) uint32 {
	bits := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		bits |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		bits |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		bits |= 0o1000
	}
	return bits
}
