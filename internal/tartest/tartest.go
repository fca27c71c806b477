// Package tartest builds tar archives in tests, including hostile ones:
// names are written exactly as given (absolute, with "..", anything), so
// tests can check how extractors cope with archives no honest producer
// would write.
//
// Build an archive from entry constructors, adjusting entries with the
// With methods:
//
//	data := tartest.Build(t,
//		tartest.Dir("etc"),
//		tartest.File("etc/hosts", "127.0.0.1 localhost\n").WithMode(0o644),
//		tartest.Symlink("escape", "../../.."),
//		tartest.File("escape/pwned", "x"),
//		tartest.Whiteout("var/cache"),
//	)
package tartest

import (
	"archive/tar"
	"bytes"
	"path"
	"testing"
	"time"
)

// EpochSeconds is the modification time, in Unix seconds, every entry
// gets unless WithModTime changes it, so archives built twice are
// byte-identical.
const EpochSeconds = 1_000_000_000

// epoch is EpochSeconds as a time.
func epoch() time.Time { return time.Unix(EpochSeconds, 0).UTC() }

// Entry is one archive member: a header and, for regular files, content.
type Entry struct {
	Header tar.Header
	Body   []byte
}

// File is a regular file name holding body, mode 0644.
func File(name, body string) Entry {
	return Entry{
		Header: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: epoch()},
		Body:   []byte(body),
	}
}

// Dir is a directory name, mode 0755. A trailing slash is not added, so a
// test can also check names without one.
func Dir(name string) Entry {
	return Entry{Header: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: epoch()}}
}

// Symlink is a symbolic link name pointing at target.
func Symlink(name, target string) Entry {
	return Entry{Header: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777, ModTime: epoch()}}
}

// Link is a hard link name to the archive member target.
func Link(name, target string) Entry {
	return Entry{Header: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, Mode: 0o644, ModTime: epoch()}}
}

// Char is a character device name with the given device numbers.
func Char(name string, major, minor int64) Entry {
	return Entry{Header: tar.Header{Typeflag: tar.TypeChar, Name: name, Mode: 0o666, Devmajor: major, Devminor: minor, ModTime: epoch()}}
}

// Fifo is a named pipe name.
func Fifo(name string) Entry {
	return Entry{Header: tar.Header{Typeflag: tar.TypeFifo, Name: name, Mode: 0o644, ModTime: epoch()}}
}

// Whiteout is the OCI whiteout deleting name: an empty file named
// ".wh.<base>" in name's directory. The name is not cleaned, so
// Whiteout("../x") yields "../.wh.x".
func Whiteout(name string) Entry {
	dir, base := path.Split(name)
	return Entry{Header: tar.Header{Typeflag: tar.TypeReg, Name: dir + ".wh." + base, ModTime: epoch()}}
}

// Opaque is the OCI opaque whiteout of dir ("" for the top level): it
// hides everything lower layers put in dir.
func Opaque(dir string) Entry {
	name := ".wh..wh..opq"
	if dir != "" {
		name = dir + "/" + name
	}
	return Entry{Header: tar.Header{Typeflag: tar.TypeReg, Name: name, ModTime: epoch()}}
}

// WithMode returns e with permission (and setuid/setgid/sticky) bits m.
func (e Entry) WithMode(m int64) Entry {
	e.Header.Mode = m
	return e
}

// WithOwner returns e owned by uid and gid.
func (e Entry) WithOwner(uid, gid int) Entry {
	e.Header.Uid, e.Header.Gid = uid, gid
	return e
}

// WithModTime returns e with modification time t.
func (e Entry) WithModTime(t time.Time) Entry {
	e.Header.ModTime = t
	return e
}

// WithXattr returns e carrying the extended attribute name=value.
func (e Entry) WithXattr(name, value string) Entry {
	recs := make(map[string]string, len(e.Header.PAXRecords)+1)
	for k, v := range e.Header.PAXRecords {
		recs[k] = v
	}
	recs["SCHILY.xattr."+name] = value
	e.Header.PAXRecords = recs
	return e
}

// Build writes entries, in order, as a PAX tar and returns its bytes. It
// fails t if archive/tar rejects an entry.
func Build(t testing.TB, entries ...Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.Header
		h.Format = tar.FormatPAX
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.Body))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("tartest: writing header %q: %v", h.Name, err)
		}
		if len(e.Body) > 0 {
			if _, err := tw.Write(e.Body); err != nil {
				t.Fatalf("tartest: writing body of %q: %v", h.Name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatalf("tartest: closing archive: %v", err)
	}
	return buf.Bytes()
}
