package executor_test

import (
	"archive/tar"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/ocibuilder/builder/internal/testutil"
	"github.com/ocibuilder/builder/pkg/parser"
)

// serveFiles serves each body at its path on 127.0.0.1 until the test
// ends.
func serveFiles(t testing.TB, files map[string][]byte) *httptest.Server {
	mux := http.NewServeMux()
	for p, body := range files {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestAddUnpack checks ADD --unpack as BuildKit reads it: local archives
// are extracted unless --unpack=false, downloaded ones only with
// --unpack=true; a download that is no archive is copied either way.
func TestAddUnpack(t *testing.T) {
	archive := compress(t, "gzip", sampleArchive(t))
	srv := serveFiles(t, map[string][]byte{"/arch.tar.gz": archive, "/plain.txt": []byte("P")})
	r := build(t, spec{
		dockerfile: "FROM scratch\n" +
			"ADD --unpack=false arch.tar.gz /kept/\n" +
			"ADD --unpack=true arch.tar.gz /local/\n" +
			"ADD " + srv.URL + "/arch.tar.gz /remote-default/\n" +
			"ADD --unpack=true " + srv.URL + "/arch.tar.gz /remote\n" +
			"ADD --unpack=true " + srv.URL + "/plain.txt /plain/\n",
		context: []testutil.Entry{file("arch.tar.gz", string(archive))},
		client:  srv.Client(),
	})
	r.wantFile(t, "/kept/arch.tar.gz", string(archive))
	r.wantFile(t, "/remote-default/arch.tar.gz", string(archive))
	for _, d := range []string{"/local", "/remote"} {
		r.wantFile(t, d+"/dir/file", "F")
		r.wantFile(t, d+"/top.txt", "T")
		if r.exists(d + "/arch.tar.gz") {
			t.Errorf("%s holds the archive itself", d)
		}
	}
	r.wantFile(t, "/plain/plain.txt", "P")
}

// TestAddURLChownChmod applies --chown and --chmod to a download, and
// --chown (not --chmod, as in BuildKit) to what an extracted download
// holds and to the directory made for it.
func TestAddURLChownChmod(t *testing.T) {
	archive := makeTar(t,
		tarEntry{name: "d/", typ: tar.TypeDir, mode: 0o750},
		tarEntry{name: "d/f", body: "F", mode: 0o640, uid: 3, gid: 3})
	srv := serveFiles(t, map[string][]byte{"/a.tar": archive, "/f.txt": []byte("hello")})
	r := build(t, spec{
		dockerfile: "FROM scratch\n" +
			"ADD --chown=7:8 --chmod=0751 " + srv.URL + "/f.txt /dl/\n" +
			"ADD --unpack=true --chown=7:8 --chmod=0600 " + srv.URL + "/a.tar /x/\n",
		client: srv.Client(),
	})
	r.wantFile(t, "/dl/f.txt", "hello")
	if m := r.mode(t, "/dl/f.txt"); m != 0o751 {
		t.Errorf("/dl/f.txt has mode %v, want 0751", m)
	}
	for p, mode := range map[string]os.FileMode{"/dl/f.txt": 0o751, "/x": 0o755, "/x/d": 0o750, "/x/d/f": 0o640} {
		if uid, gid := r.owner(t, p); uid != 7 || gid != 8 {
			t.Errorf("%s owned by %d:%d, want 7:8", p, uid, gid)
		}
		if m := r.mode(t, p); m != mode {
			t.Errorf("%s has mode %v, want %v", p, m, mode)
		}
	}
}

// TestCopyFlagBadValues fails at parse time on a flag value that is not a
// boolean, naming the line and the value.
func TestCopyFlagBadValues(t *testing.T) {
	for _, line := range []string{"ADD --unpack=maybe a.tar /x/", "COPY --link=maybe a /x/", "COPY --parents=maybe a /x/"} {
		_, err := parser.Parse(strings.NewReader("FROM scratch\n"+line+"\n"), parser.Options{Filename: "Dockerfile"})
		if err == nil || !strings.Contains(err.Error(), "Dockerfile:2") || !strings.Contains(err.Error(), "maybe") {
			t.Errorf("%s: error %v, want one naming Dockerfile:2 and the value", line, err)
		}
	}
}
