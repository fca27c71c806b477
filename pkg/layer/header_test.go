package layer

import (
	"archive/tar"
	"bytes"
	"io/fs"
	"strings"
	"testing"
	"time"
)

func TestTarHeader(t *testing.T) {
	mtime := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("x", 3600))
	epoch := time.Unix(1_600_000_000, 999)
	long := strings.Repeat("d/", 1999) + "ff" // 4000 bytes
	tests := []struct {
		name  string
		m     meta
		o     TarOptions
		check func(t *testing.T, h *tar.Header)
	}{{
		name: "regular file keeps owner and whole-second mtime",
		m:    meta{name: "a/b", mode: 0o640, uid: 1234, gid: 5678, mtime: mtime, size: 3},
		check: func(t *testing.T, h *tar.Header) {
			want := tar.Header{Typeflag: tar.TypeReg, Name: "a/b", Mode: 0o640, Uid: 1234, Gid: 5678, Size: 3,
				ModTime: time.Unix(mtime.Unix(), 0).UTC(), Format: tar.FormatPAX}
			if h.Typeflag != want.Typeflag || h.Name != want.Name || h.Mode != want.Mode || h.Uid != want.Uid ||
				h.Gid != want.Gid || h.Size != want.Size || !h.ModTime.Equal(want.ModTime) || h.Format != want.Format {
				t.Errorf("got %+v, want %+v", h, want)
			}
			if h.ModTime.Nanosecond() != 0 {
				t.Errorf("mtime %v has sub-second part", h.ModTime)
			}
			if h.Uname != "" || h.Gname != "" || !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
				t.Errorf("names or times leaked: %+v", h)
			}
		},
	}, {
		name: "mtime clamped to SourceDateEpoch",
		m:    meta{name: "f", mode: 0o644, mtime: mtime},
		o:    TarOptions{SourceDateEpoch: &epoch},
		check: func(t *testing.T, h *tar.Header) {
			if !h.ModTime.Equal(time.Unix(1_600_000_000, 0)) {
				t.Errorf("mtime %v, want clamped to %v", h.ModTime, epoch)
			}
		},
	}, {
		name: "older mtime kept under SourceDateEpoch",
		m:    meta{name: "f", mode: 0o644, mtime: time.Unix(5, 0)},
		o:    TarOptions{SourceDateEpoch: &epoch},
		check: func(t *testing.T, h *tar.Header) {
			if !h.ModTime.Equal(time.Unix(5, 0)) {
				t.Errorf("mtime %v, want 5s", h.ModTime)
			}
		},
	}, {
		name: "directory gets trailing slash",
		m:    meta{name: "usr/lib", mode: fs.ModeDir | 0o755},
		check: func(t *testing.T, h *tar.Header) {
			if h.Name != "usr/lib/" || h.Typeflag != tar.TypeDir || h.Mode != 0o755 {
				t.Errorf("got %q %c %o", h.Name, h.Typeflag, h.Mode)
			}
		},
	}, {
		name: "special bits without type bits",
		m:    meta{name: "d", mode: fs.ModeDir | fs.ModeSetgid | fs.ModeSticky | 0o775},
		check: func(t *testing.T, h *tar.Header) {
			if h.Mode != 0o3775 {
				t.Errorf("mode %o, want 3775", h.Mode)
			}
		},
	}, {
		name: "setuid file",
		m:    meta{name: "su", mode: fs.ModeSetuid | 0o755},
		check: func(t *testing.T, h *tar.Header) {
			if h.Mode != 0o4755 {
				t.Errorf("mode %o, want 4755", h.Mode)
			}
		},
	}, {
		name: "symlink",
		m:    meta{name: "l", mode: fs.ModeSymlink | 0o777, link: "../x"},
		check: func(t *testing.T, h *tar.Header) {
			if h.Typeflag != tar.TypeSymlink || h.Linkname != "../x" || h.Size != 0 {
				t.Errorf("got %+v", h)
			}
		},
	}, {
		name: "hard link",
		m:    meta{name: "b", mode: 0o644, hardlink: true, link: "a"},
		check: func(t *testing.T, h *tar.Header) {
			if h.Typeflag != tar.TypeLink || h.Linkname != "a" || h.Size != 0 {
				t.Errorf("got %+v", h)
			}
		},
	}, {
		name: "char device",
		m:    meta{name: "null", mode: fs.ModeDevice | fs.ModeCharDevice | 0o666, devMajor: 1, devMinor: 3},
		check: func(t *testing.T, h *tar.Header) {
			if h.Typeflag != tar.TypeChar || h.Devmajor != 1 || h.Devminor != 3 {
				t.Errorf("got %+v", h)
			}
		},
	}, {
		name: "block device",
		m:    meta{name: "sda", mode: fs.ModeDevice | 0o660, devMajor: 8},
		check: func(t *testing.T, h *tar.Header) {
			if h.Typeflag != tar.TypeBlock || h.Devmajor != 8 {
				t.Errorf("got %+v", h)
			}
		},
	}, {
		name: "fifo",
		m:    meta{name: "p", mode: fs.ModeNamedPipe | 0o600},
		check: func(t *testing.T, h *tar.Header) {
			if h.Typeflag != tar.TypeFifo {
				t.Errorf("got %+v", h)
			}
		},
	}, {
		name: "xattrs as SCHILY records",
		m:    meta{name: "f", mode: 0o644, xattrs: map[string]string{"security.capability": "\x01\x00\x00\x02", "user.a": "b"}},
		check: func(t *testing.T, h *tar.Header) {
			if h.PAXRecords["SCHILY.xattr.security.capability"] != "\x01\x00\x00\x02" || h.PAXRecords["SCHILY.xattr.user.a"] != "b" {
				t.Errorf("records %q", h.PAXRecords)
			}
		},
	}, {
		name: "long name survives",
		m:    meta{name: long, mode: 0o644},
		check: func(t *testing.T, h *tar.Header) {
			if h.Name != long {
				t.Errorf("name length %d, want %d", len(h.Name), len(long))
			}
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := tarHeader(tc.m, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, h)
			// Every header must also survive a write/read cycle unchanged.
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			if err := tw.WriteHeader(h); err != nil {
				t.Fatalf("writing header: %v", err)
			}
			if h.Size > 0 {
				if _, err := tw.Write(make([]byte, h.Size)); err != nil {
					t.Fatal(err)
				}
			}
			if err := tw.Close(); err != nil {
				t.Fatal(err)
			}
			got := readTar(t, buf.Bytes())
			if len(got) != 1 {
				t.Fatalf("read %d entries", len(got))
			}
			r := got[0].hdr
			if r.Name != h.Name || r.Mode != h.Mode || r.Uid != h.Uid || r.Linkname != h.Linkname || !r.ModTime.Equal(h.ModTime) {
				t.Errorf("read back %q %o %d %q %v, wrote %q %o %d %q %v", r.Name, r.Mode, r.Uid, r.Linkname, r.ModTime, h.Name, h.Mode, h.Uid, h.Linkname, h.ModTime)
			}
			if !r.AccessTime.IsZero() || !r.ChangeTime.IsZero() {
				t.Errorf("read back atime/ctime %v %v", r.AccessTime, r.ChangeTime)
			}
			for k, v := range h.PAXRecords {
				if r.PAXRecords[k] != v {
					t.Errorf("record %s = %q, want %q", k, r.PAXRecords[k], v)
				}
			}
		})
	}
}

func TestTarHeaderRejectsUncleanNames(t *testing.T) {
	for _, name := range []string{"", ".", "/abs", "a/../b", "./a", "a/", ".."} {
		t.Run(name, func(t *testing.T) {
			if _, err := tarHeader(meta{name: name, mode: 0o644}, TarOptions{}); err == nil {
				t.Errorf("tarHeader(%q) succeeded", name)
			}
		})
	}
}
