package tartest

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestBuildKeepsNamesVerbatim(t *testing.T) {
	data := Build(t,
		File("../escape", "x").WithOwner(1, 2).WithMode(0o4755),
		Dir("/abs"),
		Symlink("l", "/"),
		Link("h", "../../etc/passwd"),
		Char("null", 1, 3),
		Fifo("p"),
		Whiteout("a/b"),
		Whiteout("../c"),
		Opaque("d"),
		Opaque(""),
		File("x", "").WithXattr("user.a", "1").WithXattr("security.capability", "\x00\x01"),
	)
	want := []struct {
		name     string
		typ      byte
		linkname string
	}{
		{"../escape", tar.TypeReg, ""},
		{"/abs", tar.TypeDir, ""},
		{"l", tar.TypeSymlink, "/"},
		{"h", tar.TypeLink, "../../etc/passwd"},
		{"null", tar.TypeChar, ""},
		{"p", tar.TypeFifo, ""},
		{"a/.wh.b", tar.TypeReg, ""},
		{"../.wh.c", tar.TypeReg, ""},
		{"d/.wh..wh..opq", tar.TypeReg, ""},
		{".wh..wh..opq", tar.TypeReg, ""},
		{"x", tar.TypeReg, ""},
	}
	tr := tar.NewReader(bytes.NewReader(data))
	for i, w := range want {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		if h.Name != w.name || h.Typeflag != w.typ || h.Linkname != w.linkname {
			t.Errorf("entry %d = %q %c %q, want %q %c %q", i, h.Name, h.Typeflag, h.Linkname, w.name, w.typ, w.linkname)
		}
		if h.ModTime.Unix() != EpochSeconds {
			t.Errorf("entry %d mtime %v", i, h.ModTime)
		}
		switch i {
		case 0:
			body, _ := io.ReadAll(tr)
			if string(body) != "x" || h.Uid != 1 || h.Gid != 2 || h.Mode != 0o4755 {
				t.Errorf("file entry: body %q uid %d gid %d mode %o", body, h.Uid, h.Gid, h.Mode)
			}
		case 4:
			if h.Devmajor != 1 || h.Devminor != 3 {
				t.Errorf("device %d,%d", h.Devmajor, h.Devminor)
			}
		case 10:
			if h.PAXRecords["SCHILY.xattr.user.a"] != "1" || h.PAXRecords["SCHILY.xattr.security.capability"] != "\x00\x01" {
				t.Errorf("xattrs %q", h.PAXRecords)
			}
		}
	}
	if _, err := tr.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("extra entry: %v", err)
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	a := Build(t, Dir("d"), File("d/f", "content"))
	b := Build(t, Dir("d"), File("d/f", "content"))
	if !bytes.Equal(a, b) {
		t.Error("same entries built different bytes")
	}
}

func TestWithXattrDoesNotAlias(t *testing.T) {
	base := File("f", "").WithXattr("user.a", "1")
	one := base.WithXattr("user.b", "2")
	if _, ok := base.Header.PAXRecords["SCHILY.xattr.user.b"]; ok {
		t.Error("WithXattr changed the entry it was called on")
	}
	if one.Header.PAXRecords["SCHILY.xattr.user.a"] != "1" {
		t.Error("WithXattr dropped earlier records")
	}
}
