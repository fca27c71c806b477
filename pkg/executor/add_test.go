package executor_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/ocibuilder/builder/internal/testutil"
)

// archiveTime is the mtime of every entry of the test archives.
func archiveTime() time.Time { return time.Date(2019, 5, 6, 7, 8, 9, 0, time.UTC) }

// tarEntry is one entry of an archive built by makeTar.
type tarEntry struct {
	name     string
	typ      byte
	body     string
	link     string
	mode     int64
	uid, gid int
}

func makeTar(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{
			Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: e.mode,
			Uid: e.uid, Gid: e.gid, ModTime: archiveTime(), Format: tar.FormatPAX,
		}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("writing tar header %s: %v", e.name, err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatalf("writing tar entry %s: %v", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// compress encodes data with the named compression, using the command
// line tools for bzip2 and xz.
func compress(t testing.TB, kind string, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch kind {
	case "tar":
		return data
	case "gzip":
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	case "zstd":
		zw, err := zstd.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := zw.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	case "bzip2", "xz":
		cmd := exec.Command(testutil.RequireTool(t, kind), "-c")
		cmd.Stdin = bytes.NewReader(data)
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: %v\n%s", kind, err, stderr.Bytes())
		}
	default:
		t.Fatalf("unknown compression %s", kind)
	}
	return buf.Bytes()
}

func sampleArchive(t testing.TB) []byte {
	return makeTar(t,
		tarEntry{name: "dir/", typ: tar.TypeDir, mode: 0o750, uid: 7, gid: 8},
		tarEntry{name: "dir/file", body: "F", mode: 0o640, uid: 7, gid: 8},
		tarEntry{name: "link", typ: tar.TypeSymlink, link: "dir/file"},
		tarEntry{name: "top.txt", body: "T"},
	)
}

func TestAddArchive(t *testing.T) {
	for _, kind := range []string{"tar", "gzip", "bzip2", "xz", "zstd"} {
		t.Run(kind, func(t *testing.T) {
			data := compress(t, kind, sampleArchive(t))
			r := build(t, spec{
				dockerfile: "FROM scratch\nADD arch.bin /dest/\nADD arch.bin /nodir\nCOPY arch.bin /copied\n",
				context:    []testutil.Entry{file("arch.bin", string(data))},
			})
			for _, d := range []string{"/dest", "/nodir"} {
				r.wantFile(t, d+"/dir/file", "F")
				r.wantFile(t, d+"/top.txt", "T")
				if target, err := os.Readlink(r.path(d + "/link")); err != nil || target != "dir/file" {
					t.Errorf("%s/link: target %q, err %v", d, target, err)
				}
				if uid, gid := r.owner(t, d+"/dir/file"); uid != 7 || gid != 8 {
					t.Errorf("%s/dir/file owned by %d:%d, want 7:8", d, uid, gid)
				}
				if m := r.mode(t, d+"/dir"); m != 0o750 {
					t.Errorf("%s/dir has mode %v, want 0750", d, m)
				}
				if mt := r.lstat(t, d+"/dir/file").ModTime(); !mt.Equal(archiveTime()) {
					t.Errorf("%s/dir/file has mtime %v, want %v", d, mt, archiveTime())
				}
			}
			// COPY never extracts.
			r.wantFile(t, "/copied", string(data))
		})
	}
}

func TestAddPlainFiles(t *testing.T) {
	r := build(t, spec{
		dockerfile: "FROM scratch\nADD plain.txt fake.tar.gz /p/\nADD dir /d/\n",
		context: []testutil.Entry{
			file("plain.txt", "P"),
			file("fake.tar.gz", "\x1f\x8b not really gzip"),
			file("dir/x", "X"),
		},
	})
	r.wantFile(t, "/p/plain.txt", "P")
	r.wantFile(t, "/p/fake.tar.gz", "\x1f\x8b not really gzip")
	r.wantFile(t, "/d/x", "X")
}

func TestAddHostileArchive(t *testing.T) {
	tests := []struct {
		name    string
		entries func(host string) []tarEntry
	}{{
		name: "dot-dot entry",
		entries: func(host string) []tarEntry {
			return []tarEntry{{name: strings.Repeat("../", 20) + strings.TrimPrefix(host, "/") + "/canary", body: "pwned"}}
		},
	}, {
		name: "absolute entry",
		entries: func(host string) []tarEntry {
			return []tarEntry{{name: host + "/canary", body: "pwned"}}
		},
	}, {
		name: "write through an absolute symlink",
		entries: func(host string) []tarEntry {
			return []tarEntry{
				{name: "l", typ: tar.TypeSymlink, link: host},
				{name: "l/canary", body: "pwned"},
				{name: "l/new", body: "pwned"},
			}
		},
	}, {
		name: "write through a relative symlink leading up",
		entries: func(host string) []tarEntry {
			return []tarEntry{
				{name: "up", typ: tar.TypeSymlink, link: strings.Repeat("../", 20) + strings.TrimPrefix(host, "/")},
				{name: "up/canary", body: "pwned"},
			}
		},
	}, {
		name: "symlink replaced by a file",
		entries: func(host string) []tarEntry {
			return []tarEntry{
				{name: "f", typ: tar.TypeSymlink, link: host + "/canary"},
				{name: "f", body: "pwned"},
			}
		},
	}, {
		name: "hard link to a host file",
		entries: func(host string) []tarEntry {
			return []tarEntry{
				{name: "hl", typ: tar.TypeLink, link: host + "/canary"},
				{name: "hl2", typ: tar.TypeLink, link: strings.Repeat("../", 20) + strings.TrimPrefix(host, "/") + "/canary"},
			}
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			host := t.TempDir()
			canary := filepath.Join(host, "canary")
			if err := os.WriteFile(canary, []byte("original"), 0o644); err != nil {
				t.Fatal(err)
			}
			data := makeTar(t, tc.entries(host)...)
			s := spec{
				dockerfile: "FROM scratch\nADD evil.tar /x/\n",
				context:    []testutil.Entry{file("evil.tar", string(data))},
			}
			o := s.options(t)
			// Refusing the archive and containing it are both fine.
			res, err := tryBuild(t, s, o)
			if err == nil {
				t.Logf("archive contained: image holds %q", res.files(t, "/"))
			} else {
				t.Logf("archive refused: %v", err)
			}
			ents, rerr := os.ReadDir(host)
			if rerr != nil {
				t.Fatal(rerr)
			}
			for _, e := range ents {
				if e.Name() != "canary" {
					t.Errorf("the build created %s on the host", filepath.Join(host, e.Name()))
				}
			}
			b, rerr := os.ReadFile(canary)
			if rerr != nil || string(b) != "original" {
				t.Errorf("canary holds %q (%v), want \"original\"", b, rerr)
			}
			var st syscall.Stat_t
			if err := syscall.Stat(canary, &st); err != nil || st.Nlink != 1 {
				t.Errorf("canary has %d links (%v), want 1", st.Nlink, err)
			}
		})
	}
}

func TestAddURL(t *testing.T) {
	lastMod := time.Date(2020, 2, 3, 4, 5, 6, 0, time.UTC)
	archive := compress(t, "gzip", sampleArchive(t))
	mux := http.NewServeMux()
	mux.HandleFunc("/files/hello.txt", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Last-Modified", lastMod.Format(http.TimeFormat))
		fmt.Fprint(w, "hello")
	})
	mux.HandleFunc("/files/arch.tar.gz", func(w http.ResponseWriter, r *http.Request) {
		w.Write(archive)
	})
	mux.HandleFunc("/named", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Disposition", `attachment; filename="disposed.txt"`)
		fmt.Fprint(w, "D")
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	sum := sha256.Sum256([]byte("hello"))
	good := "sha256:" + hex.EncodeToString(sum[:])
	bad := "sha256:" + strings.Repeat("0", 64)
	hello := srv.URL + "/files/hello.txt"

	t.Run("into a directory", func(t *testing.T) {
		r := build(t, spec{dockerfile: "FROM scratch\nADD " + hello + " /dl/\n", client: srv.Client()})
		r.wantFile(t, "/dl/hello.txt", "hello")
		if m := r.mode(t, "/dl/hello.txt"); m != 0o600 {
			t.Errorf("mode %v, want 0600", m)
		}
		if uid, gid := r.owner(t, "/dl/hello.txt"); uid != 0 || gid != 0 {
			t.Errorf("owned by %d:%d, want 0:0", uid, gid)
		}
		if mt := r.lstat(t, "/dl/hello.txt").ModTime(); !mt.Equal(lastMod) {
			t.Errorf("mtime %v, want Last-Modified %v", mt, lastMod)
		}
	})
	t.Run("to a file name", func(t *testing.T) {
		r := build(t, spec{dockerfile: "FROM scratch\nADD " + hello + " /dl/renamed\n", client: srv.Client()})
		r.wantFile(t, "/dl/renamed", "hello")
	})
	t.Run("name from Content-Disposition", func(t *testing.T) {
		r := build(t, spec{dockerfile: "FROM scratch\nADD " + srv.URL + "/named /dl/\n", client: srv.Client()})
		r.wantFile(t, "/dl/disposed.txt", "D")
	})
	t.Run("remote archives are not extracted", func(t *testing.T) {
		r := build(t, spec{dockerfile: "FROM scratch\nADD " + srv.URL + "/files/arch.tar.gz /r/\n", client: srv.Client()})
		r.wantFile(t, "/r/arch.tar.gz", string(archive))
	})
	t.Run("right checksum", func(t *testing.T) {
		r := build(t, spec{dockerfile: "FROM scratch\nADD --checksum=" + good + " " + hello + " /c/\n", client: srv.Client()})
		r.wantFile(t, "/c/hello.txt", "hello")
	})
	errs := []struct {
		name string
		df   string
		want string
	}{
		{"wrong checksum", "FROM scratch\nADD --checksum=" + bad + " " + hello + " /c/\n", "checksum"},
		{"malformed checksum", "FROM scratch\nADD --checksum=sha256:xyz " + hello + " /c/\n", "checksum"},
		{"missing file", "FROM scratch\nADD " + srv.URL + "/nothing /c/\n", "404"},
		{"COPY of a URL", "FROM scratch\nCOPY " + hello + " /c/\n", "URL"},
		{"checksum of a local file", "FROM scratch\nADD --checksum=" + good + " local.txt /c/\n", "checksum"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			err, pe := buildErr(t, spec{
				dockerfile: tc.df, client: srv.Client(),
				context: []testutil.Entry{file("local.txt", "hello")},
			})
			if pe.Loc.Line != 2 {
				t.Errorf("error %v is at line %d, want 2", err, pe.Loc.Line)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}
