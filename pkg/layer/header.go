package layer

import (
	"archive/tar"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/ocibuilder/builder/internal/fsutil"
)

// meta is everything a tar header is built from: an Lstat result of a file
// in the tree, or a synthetic whiteout.
type meta struct {
	// name is clean, slash-separated and relative to the layer root.
	name string
	mode fs.FileMode
	uid  int
	gid  int
	// mtime is the modification time before truncation and clamping.
	mtime time.Time
	size  int64
	// devMajor and devMinor are set for character and block devices.
	devMajor int64
	devMinor int64
	// link is the symlink target, or for hard links the name of the entry
	// that holds the content.
	link     string
	hardlink bool
	xattrs   map[string]string
}

// tarHeader applies every header normalisation rule in one place so that
// the same tree always yields the same bytes: PAX format, clean relative
// names, numeric owners only, no access or change times, whole-second
// mtimes clamped to SourceDateEpoch, permission and special mode bits only.
func tarHeader(m meta, o TarOptions) (*tar.Header, error) {
	name := strings.TrimPrefix(path.Clean("/"+m.name), "/")
	if name == "" || name != m.name {
		return nil, fmt.Errorf("building header for %q: name is not clean and relative", m.name)
	}
	h := &tar.Header{
		Name:    name,
		Mode:    int64(fsutil.UnixMode(m.mode)),
		Uid:     m.uid,
		Gid:     m.gid,
		ModTime: headerTime(m.mtime, o.SourceDateEpoch),
		Format:  tar.FormatPAX,
	}
	switch {
	case m.hardlink:
		h.Typeflag = tar.TypeLink
		h.Linkname = m.link
	case m.mode.IsDir():
		h.Typeflag = tar.TypeDir
		h.Name += "/"
	case m.mode&fs.ModeSymlink != 0:
		h.Typeflag = tar.TypeSymlink
		h.Linkname = m.link
	case m.mode&fs.ModeDevice != 0:
		h.Typeflag = tar.TypeBlock
		if m.mode&fs.ModeCharDevice != 0 {
			h.Typeflag = tar.TypeChar
		}
		h.Devmajor, h.Devminor = m.devMajor, m.devMinor
	case m.mode&fs.ModeNamedPipe != 0:
		h.Typeflag = tar.TypeFifo
	case m.mode.IsRegular():
		h.Typeflag = tar.TypeReg
		h.Size = m.size
	default:
		return nil, fmt.Errorf("building header for %q: unsupported file type %s", m.name, m.mode.Type())
	}
	if len(m.xattrs) > 0 {
		h.PAXRecords = make(map[string]string, len(m.xattrs))
		for k, v := range m.xattrs {
			h.PAXRecords[paxXattrPrefix+k] = v
		}
	}
	return h, nil
}

// paxXattrPrefix is the PAX record prefix GNU tar, bsdtar and Go's
// archive/tar use for extended attributes.
const paxXattrPrefix = "SCHILY.xattr."

// headerTime drops sub-second precision (which would otherwise add PAX
// mtime records and make layers differ between filesystems) and clamps to
// epoch when it is set. The zero time becomes the Unix epoch, which is
// what tar can represent.
func headerTime(t time.Time, epoch *time.Time) time.Time {
	if t.IsZero() {
		t = time.Unix(0, 0)
	}
	t = time.Unix(t.Unix(), 0).UTC()
	if epoch != nil {
		e := time.Unix(epoch.Unix(), 0).UTC()
		if t.After(e) {
			t = e
		}
	}
	return t
}
