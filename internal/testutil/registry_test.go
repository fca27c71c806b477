package testutil

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// layoutImage returns the manifest descriptor the layout's index holds
// (it must hold exactly one) and the manifest itself.
func layoutImage(t *testing.T, dir string) (ocispec.Descriptor, ocispec.Manifest) {
	t.Helper()
	var idx ocispec.Index
	readJSON(t, filepath.Join(dir, "index.json"), &idx)
	if len(idx.Manifests) != 1 {
		t.Fatalf("%s: index holds %d manifests, want 1", dir, len(idx.Manifests))
	}
	d := idx.Manifests[0]
	var m ocispec.Manifest
	readJSON(t, filepath.Join(dir, "blobs", d.Digest.Algorithm().String(), d.Digest.Encoded()), &m)
	return d, m
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
}

func smallLayout(t *testing.T) string {
	t.Helper()
	return ImageLayout(t, File("hello.txt", "hello from the registry test\n"), Dir("data"))
}

func TestRegistryRoundTrip(t *testing.T) {
	r := StartRegistry(t, RegistryOptions{})
	src := smallLayout(t)
	want, m := layoutImage(t, src)

	r.CopyIn(t, src+":latest", "demo/app:v1")
	if got := r.ManifestDigest(t, "demo/app:v1"); got != want.Digest.String() {
		t.Fatalf("registry manifest digest = %s, want the layout's %s", got, want.Digest)
	}

	out := filepath.Join(t.TempDir(), "out")
	r.CopyOut(t, "demo/app:v1", out)
	got, gm := layoutImage(t, out)
	if got.Digest != want.Digest {
		t.Errorf("pulled manifest digest = %s, want %s", got.Digest, want.Digest)
	}
	if tag := got.Annotations[ocispec.AnnotationRefName]; tag != "v1" {
		t.Errorf("pulled layout's tag = %q, want v1", tag)
	}
	if len(gm.Layers) != len(m.Layers) || gm.Layers[0].Digest != m.Layers[0].Digest || gm.Config.Digest != m.Config.Digest {
		t.Errorf("pulled manifest %+v differs from pushed %+v", gm, m)
	}
	for _, d := range append([]ocispec.Descriptor{gm.Config}, gm.Layers...) {
		if _, err := os.Stat(filepath.Join(out, "blobs", "sha256", d.Digest.Encoded())); err != nil {
			t.Errorf("pulled layout lacks blob %s: %v", d.Digest, err)
		}
	}

	// The storage is where TamperBlob expects it.
	layerData := filepath.Join(r.Dir, "docker", "registry", "v2", "blobs", "sha256",
		m.Layers[0].Digest.Encoded()[:2], m.Layers[0].Digest.Encoded(), "data")
	if fi, err := os.Stat(layerData); err != nil || fi.Size() != m.Layers[0].Size {
		t.Errorf("stored layer %s: %v (size %v, want %d)", layerData, err, fi, m.Layers[0].Size)
	}
}

func TestRegistryAuth(t *testing.T) {
	users := map[string]string{"alice": "s3cret:with colon", "bob": "hunter2"}
	r := StartRegistry(t, RegistryOptions{Users: users})
	if got := r.Creds(); got != "alice:s3cret:with colon" {
		t.Fatalf("Creds = %q, want the first user's", got)
	}
	// The helper methods authenticate by themselves.
	r.CopyIn(t, smallLayout(t)+":latest", "private/app:1")
	ref := "docker://" + r.Ref("private/app:1")

	for _, tc := range []struct {
		name string
		args []string
		ok   bool
	}{
		{name: "no credentials", args: nil},
		{name: "wrong password", args: []string{"--creds", "bob:hunter3"}},
		{name: "unknown user", args: []string{"--creds", "mallory:hunter2"}},
		{name: "second user", args: []string{"--creds", "bob:hunter2"}, ok: true},
		{name: "password with colon", args: []string{"--creds", "alice:s3cret:with colon"}, ok: true},
		{name: "docker config", args: []string{"--authfile", filepath.Join(r.DockerConfig(t, "bob", "hunter2"), "config.json")}, ok: true},
		{name: "docker config wrong password", args: []string{"--authfile", filepath.Join(r.DockerConfig(t, "bob", "nope"), "config.json")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"inspect", "--raw", "--tls-verify=false"}, tc.args...)
			_, err := Skopeo(t, append(args, ref)...)
			switch {
			case tc.ok && err != nil:
				t.Fatalf("want success: %v", err)
			case !tc.ok && err == nil:
				t.Fatal("skopeo read a private image without valid credentials")
			case !tc.ok:
				var se *SkopeoError
				if !errors.As(err, &se) || !strings.Contains(strings.ToLower(se.Stderr), "unauthorized") {
					t.Fatalf("want an authentication error, got %v", err)
				}
			}
		})
	}

	resp, err := http.Get("http://" + r.Host + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `realm="test-registry"`) {
		t.Errorf("GET /v2/ without credentials = %s %q, want 401 with the realm", resp.Status, resp.Header.Get("WWW-Authenticate"))
	}
}

func TestRegistryTamperBlob(t *testing.T) {
	for _, tc := range []struct {
		name string
		blob func(ocispec.Manifest) ocispec.Descriptor
	}{
		{name: "layer", blob: func(m ocispec.Manifest) ocispec.Descriptor { return m.Layers[0] }},
		{name: "config", blob: func(m ocispec.Manifest) ocispec.Descriptor { return m.Config }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := StartRegistry(t, RegistryOptions{})
			src := smallLayout(t)
			_, m := layoutImage(t, src)
			r.CopyIn(t, src+":latest", "victim:1")
			r.CopyOut(t, "victim:1", filepath.Join(t.TempDir(), "before"))

			d := tc.blob(m)
			r.TamperBlob(t, "victim", d.Digest.String())

			_, err := Skopeo(t, "copy", "--src-tls-verify=false", "docker://"+r.Ref("victim:1"),
				"oci:"+filepath.Join(t.TempDir(), "after")+":1")
			if err == nil {
				t.Fatalf("pulling after tampering with %s succeeded", d.Digest)
			}
			var se *SkopeoError
			// skopeo words the mismatch differently for configs and
			// layers; both name the digest it expected.
			if !errors.As(err, &se) || !strings.Contains(strings.ToLower(se.Stderr), "match") ||
				!strings.Contains(se.Stderr, "expected "+d.Digest.String()) {
				t.Fatalf("want a mismatch of %s, got %v", d.Digest, err)
			}
		})
	}
}

func TestRegistryTamperBlobRefuses(t *testing.T) {
	r := StartRegistry(t, RegistryOptions{})
	src := smallLayout(t)
	_, m := layoutImage(t, src)
	r.CopyIn(t, src+":latest", "pushed:1")
	layer := m.Layers[0].Digest.String()

	for _, tc := range []struct{ name, repo, blob string }{
		{name: "other repository", repo: "other", blob: layer},
		{name: "unknown blob", repo: "pushed", blob: "sha256:" + strings.Repeat("0", 64)},
		{name: "malformed digest", repo: "pushed", blob: "sha256:../../../etc"},
		{name: "escaping repository", repo: "../../../../..", blob: layer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ft := &fatalTB{TB: t}
			func() {
				defer func() { _ = recover() }()
				r.TamperBlob(ft, tc.repo, tc.blob)
			}()
			if !ft.failed {
				t.Fatalf("TamperBlob(%q, %q) went ahead", tc.repo, tc.blob)
			}
		})
	}
	// Nothing was changed: the image still pulls.
	r.CopyOut(t, "pushed:1", filepath.Join(t.TempDir(), "out"))
}

// fatalTB records Fatal calls instead of ending the test, to check that a
// helper refuses its input.
type fatalTB struct {
	testing.TB
	failed bool
}

func (f *fatalTB) Fatalf(string, ...any) { f.failed = true; panic(f) }
func (f *fatalTB) Fatal(...any)          { f.failed = true; panic(f) }
func (f *fatalTB) Helper()               {}

func TestRegistryProxyCountsBlobGets(t *testing.T) {
	r := StartRegistry(t, RegistryOptions{Users: map[string]string{"u": "p"}})
	p := r.Proxy(t)
	if p.Host == r.Host {
		t.Fatal("proxy handle has the registry's host")
	}
	src := smallLayout(t)
	_, m := layoutImage(t, src)

	// Pushing goes through the proxy too, uploads included.
	p.CopyIn(t, src+":latest", "cached:1")
	if n := p.BlobGets(); n != 0 {
		t.Fatalf("a push fetched %d blobs", n)
	}
	pushed := false
	for _, q := range p.Requests() {
		pushed = pushed || (q.Method == http.MethodPut && strings.Contains(q.Path, "/blobs/uploads/"))
	}
	if !pushed {
		t.Fatalf("no blob upload went through the proxy: %+v", p.Requests())
	}

	out := filepath.Join(t.TempDir(), "out")
	p.CopyOut(t, "cached:1", out)
	if n, want := p.BlobGets(), 1+len(m.Layers); n != want {
		t.Fatalf("first pull fetched %d blobs, want %d (config and layers): %+v", n, want, p.Requests())
	}

	// A pull straight from the registry is not counted.
	r.CopyOut(t, "cached:1", filepath.Join(t.TempDir(), "direct"))
	if n, want := p.BlobGets(), 1+len(m.Layers); n != want {
		t.Fatalf("a pull past the proxy changed its count to %d", n)
	}
}

func TestRegistryProxyRequiresProxyHandle(t *testing.T) {
	r := &Registry{Host: "127.0.0.1:1"}
	defer func() {
		if recover() == nil {
			t.Fatal("BlobGets on a plain handle reported a count")
		}
	}()
	r.BlobGets()
}

func TestBlobGetClassification(t *testing.T) {
	for _, tc := range []struct {
		q    RegistryRequest
		want bool
	}{
		{RegistryRequest{Method: "GET", Path: "/v2/a/b/blobs/sha256:0123abcd"}, true},
		{RegistryRequest{Method: "HEAD", Path: "/v2/a/blobs/sha256:0123abcd"}, false},
		{RegistryRequest{Method: "GET", Path: "/v2/a/blobs/uploads/5e1f"}, false},
		{RegistryRequest{Method: "PATCH", Path: "/v2/a/blobs/uploads/5e1f"}, false},
		{RegistryRequest{Method: "GET", Path: "/v2/a/manifests/sha256:0123abcd"}, false},
		{RegistryRequest{Method: "GET", Path: "/v2/"}, false},
	} {
		t.Run(tc.q.Method+tc.q.Path, func(t *testing.T) {
			if got := tc.q.IsBlobGet(); got != tc.want {
				t.Errorf("IsBlobGet = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRegistryProcessIsGone(t *testing.T) {
	var pid int
	var config string
	t.Run("run", func(t *testing.T) {
		r := StartRegistry(t, RegistryOptions{})
		pid = r.srv.Pid()
		config = r.srv.ConfigPath()
		if err := syscall.Kill(pid, 0); err != nil {
			t.Fatalf("registry pid %d is not running: %v", pid, err)
		}
	})
	if pid == 0 {
		t.Fatal("no registry pid recorded")
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("registry pid %d still exists after its test: %v", pid, err)
	}
	if out, err := exec.Command("pgrep", "-f", config).Output(); err == nil {
		t.Errorf("a process still runs with %s: %s", config, out)
	}
}

func TestTagOf(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"app:v1", "v1"},
		{"app", "latest"},
		{"org/app:1.2", "1.2"},
		{"org/app@sha256:0123", "latest"},
		{"127.0.0.1:5000/app", "latest"},
		{"app:", "latest"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := tagOf(tc.in); got != tc.want {
				t.Errorf("tagOf(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzTagOf(f *testing.F) {
	for _, s := range []string{"app:v1", "app", "a/b@sha256:00", "host:5000/a", "host:5000/a:t", ":", "/:", "a@b:c", "", "app:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		tag := tagOf(ref)
		if tag == "latest" {
			return
		}
		if tag == "" || strings.ContainsAny(tag, "/@") {
			t.Fatalf("tagOf(%q) = %q, which holds a separator", ref, tag)
		}
		if !strings.HasSuffix(ref, ":"+tag) {
			t.Fatalf("tagOf(%q) = %q, not the reference's suffix", ref, tag)
		}
	})
}
