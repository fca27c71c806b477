package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ocibuilder/builder/internal/testutil"
)

// These tests run the real binary and check its output with real consumers
// (skopeo, umoci).

var bins testutil.Binaries

// shared holds what several tests reuse: the binary and the busybox base.
type shared struct {
	builder string
	busybox string
}

func setup(t *testing.T) shared {
	t.Helper()
	dir := sharedDir(t)
	b := bins.Builder(t, dir)
	return shared{builder: b, busybox: testutil.Busybox(t, b, dir)}
}

// sharedDir is a directory living as long as the test binary.
func sharedDir(t *testing.T) string {
	t.Helper()
	if testSharedDir == "" {
		t.Fatal("TestMain did not set up the shared directory")
	}
	return testSharedDir
}

var testSharedDir string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "builder-e2e-")
	if err != nil {
		panic(err)
	}
	testSharedDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

func runBuilder(t *testing.T, bin string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running builder: %v", err)
	}
	return result{out.String(), errb.String(), code}
}

func mustSucceed(t *testing.T, r result) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("builder exited %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func skopeoJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	sk := testutil.RequireTool(t, "skopeo")
	out, err := exec.Command(sk, append([]string{"inspect"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo inspect %v rejected the image: %v\n%s", args, err, out)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("skopeo output: %v\n%s", err, out)
	}
	return m
}

// umociUnpack unpacks layout:tag with umoci and returns the rootfs path.
func umociUnpack(t *testing.T, layout, tag string) string {
	t.Helper()
	um := testutil.RequireTool(t, "umoci")
	bundle := filepath.Join(t.TempDir(), "bundle")
	if out, err := exec.Command(um, "unpack", "--image", layout+":"+tag, bundle).CombinedOutput(); err != nil {
		t.Fatalf("umoci unpack rejected the image: %v\n%s", err, out)
	}
	return filepath.Join(bundle, "rootfs")
}

func TestHelloExampleIsValidOCIArchive(t *testing.T) {
	s := setup(t)
	ctx := t.TempDir()
	for _, f := range []string{"Dockerfile", ".dockerignore", "main.go"} {
		data, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "examples", "hello", f))
		if err != nil {
			t.Fatal(err)
		}
		writeFiles(t, ctx, map[string]string{f: string(data)})
	}
	gob := exec.Command("go", "build", "-o", filepath.Join(ctx, "hello"), "./examples/hello")
	gob.Dir = testutil.RepoRoot(t)
	gob.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := gob.CombinedOutput(); err != nil {
		t.Fatalf("compiling the example: %v\n%s", err, out)
	}
	out := filepath.Join(t.TempDir(), "hello.tar")
	r := runBuilder(t, s.builder, nil, "build", "--root", t.TempDir(), "--progress", "plain",
		"-t", "hello:1.0", "--build-arg", "VERSION=2.5", "-o", "type=oci,dest="+out, ctx)
	mustSucceed(t, r)

	cfg := skopeoJSON(t, "--config", "oci-archive:"+out+":1.0")
	conf := cfg["config"].(map[string]any)
	if got := conf["Entrypoint"].([]any)[0]; got != "/usr/local/bin/hello" {
		t.Errorf("Entrypoint = %v", got)
	}
	if got := conf["User"]; got != "65534:65534" {
		t.Errorf("User = %v", got)
	}
	if got := conf["Labels"].(map[string]any)["org.opencontainers.image.version"]; got != "2.5" {
		t.Errorf("version label = %v, want the --build-arg value 2.5", got)
	}
	layout := t.TempDir()
	untar(t, out, layout)
	rootfs := umociUnpack(t, layout, "1.0")
	fi, err := os.Stat(filepath.Join(rootfs, "usr/local/bin/hello"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o755 {
		t.Errorf("hello mode %v, want 0755 from --chmod", fi.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(rootfs, "main.go")); err == nil {
		t.Error(".dockerignore did not keep main.go out of the image")
	}
	run, err := exec.Command(filepath.Join(rootfs, "usr/local/bin/hello")).Output()
	if err != nil || !strings.Contains(string(run), "hello from an image") {
		t.Errorf("running the unpacked binary: %v %q", err, run)
	}
}

func TestStaticSiteOnBusybox(t *testing.T) {
	s := setup(t)
	ctx := filepath.Join(testutil.RepoRoot(t), "examples", "static-site")
	layout := filepath.Join(t.TempDir(), "site")
	local := filepath.Join(t.TempDir(), "rootfs")
	r := runBuilder(t, s.builder, nil, "build", "--root", t.TempDir(), "--progress", "plain",
		"--build-context", "busybox=oci-layout://"+s.busybox+":latest",
		"-t", "site:latest", "-o", "type=oci,dest="+layout+",tar=false", "-o", "type=local,dest="+local, ctx)
	mustSucceed(t, r)

	m := skopeoJSON(t, "oci:"+layout+":latest")
	if layers := m["Layers"].([]any); len(layers) != 4 {
		t.Errorf("got %d layers, want 4 (busybox, WORKDIR, two COPYs)", len(layers))
	}
	// skopeo drops docker's config extensions (Healthcheck), so read the
	// config blob itself.
	var cfg struct {
		Config map[string]any `json:"config"`
	}
	readConfig(t, layout, &cfg)
	conf := cfg.Config
	if conf["WorkingDir"] != "/srv/www" || conf["User"] != "app" {
		t.Errorf("WorkingDir/User = %v/%v", conf["WorkingDir"], conf["User"])
	}
	if _, ok := conf["ExposedPorts"].(map[string]any)["8080/tcp"]; !ok {
		t.Errorf("ExposedPorts = %v", conf["ExposedPorts"])
	}
	if conf["Healthcheck"] == nil {
		t.Error("Healthcheck missing from config")
	}

	for _, rootfs := range []string{umociUnpack(t, layout, "latest"), local} {
		fi, err := os.Stat(filepath.Join(rootfs, "srv/www/index.html"))
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 1000 || st.Gid != 1000 {
			t.Errorf("%s: index.html owned by %d:%d, want app (1000:1000)", rootfs, st.Uid, st.Gid)
		}
		conf, err := os.ReadFile(filepath.Join(rootfs, "etc/httpd.conf"))
		if err != nil || string(conf) != "H:/srv/www\n" {
			t.Errorf("%s: heredoc file = %q, %v", rootfs, conf, err)
		}
		if _, err := os.Stat(filepath.Join(rootfs, "bin/busybox")); err != nil {
			t.Errorf("%s: base layer missing: %v", rootfs, err)
		}
	}
}

func TestSourceDateEpochIsReproducible(t *testing.T) {
	s := setup(t)
	ctx := t.TempDir()
	writeFiles(t, ctx, map[string]string{
		"Dockerfile": "FROM busybox\nCOPY app/ /app/\nENV A=1\nCMD [\"/app/run\"]\n",
		"app/run":    "#!/bin/sh\necho hi\n",
		"app/data":   "data",
	})
	var digests []string
	var tars [][]byte
	for i := 0; i < 2; i++ {
		// A fresh state directory each time, and builds at different
		// moments: nothing of either may leak into the image.
		out := filepath.Join(t.TempDir(), "img.tar")
		r := runBuilder(t, s.builder, []string{"SOURCE_DATE_EPOCH=1700000000"}, "build", "-q", "--root", t.TempDir(),
			"--build-context", "busybox=oci-layout://"+s.busybox+":latest", "-t", "repro:1", "-o", "type=oci,dest="+out, ctx)
		mustSucceed(t, r)
		digests = append(digests, strings.TrimSpace(r.stdout))
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		tars = append(tars, data)
	}
	if !strings.HasPrefix(digests[0], "sha256:") || digests[0] != digests[1] {
		t.Fatalf("manifest digests differ or are missing: %q vs %q", digests[0], digests[1])
	}
	if !bytes.Equal(tars[0], tars[1]) {
		t.Error("the two OCI archives differ byte for byte")
	}
	cfg := skopeoJSON(t, "--config", "oci-archive:"+writeTemp(t, tars[0])+":1")
	if cfg["created"] != "2023-11-14T22:13:20Z" {
		t.Errorf("created = %v, want SOURCE_DATE_EPOCH", cfg["created"])
	}
}

func TestDockerfileFromStdinAndVersion(t *testing.T) {
	s := setup(t)
	ctx := t.TempDir()
	writeFiles(t, ctx, map[string]string{"a.txt": "a"})
	cmd := exec.Command(s.builder, "build", "-f", "-", "--root", t.TempDir(), "-o", filepath.Join(t.TempDir(), "out"), ctx)
	cmd.Stdin = strings.NewReader("FROM scratch\nCOPY a.txt /\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build from stdin: %v\n%s", err, out)
	}
	r := runBuilder(t, s.builder, nil, "version")
	mustSucceed(t, r)
	if !strings.HasPrefix(r.stdout, "builder ") {
		t.Errorf("version output %q", r.stdout)
	}
}

// readConfig decodes the config blob of the only image in an OCI layout.
func readConfig(t *testing.T, layout string, v any) {
	t.Helper()
	readJSON := func(p string, v any) {
		data, err := os.ReadFile(p)
		if err == nil {
			err = json.Unmarshal(data, v)
		}
		if err != nil {
			t.Fatalf("reading %s: %v", p, err)
		}
	}
	blob := func(d string) string { return filepath.Join(layout, "blobs", strings.Replace(d, ":", "/", 1)) }
	var idx struct {
		Manifests []struct{ Digest string } `json:"manifests"`
	}
	readJSON(filepath.Join(layout, "index.json"), &idx)
	if len(idx.Manifests) != 1 {
		t.Fatalf("%s: %d manifests, want 1", layout, len(idx.Manifests))
	}
	var man struct {
		Config struct{ Digest string } `json:"config"`
	}
	readJSON(blob(idx.Manifests[0].Digest), &man)
	readJSON(blob(man.Config.Digest), v)
}

func untar(t *testing.T, file, dir string) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		p := filepath.Join(dir, h.Name)
		if h.Typeflag == tar.TypeDir {
			os.MkdirAll(p, 0o755)
			continue
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		data := new(bytes.Buffer)
		data.ReadFrom(tr)
		if err := os.WriteFile(p, data.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func writeTemp(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "x.tar")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
