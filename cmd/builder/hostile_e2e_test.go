package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocibuilder/builder/internal/tartest"
)

// hostileWorld is the directory layout of one hostile-input test: a
// context and a state directory inside parent, beside canary files the
// build must never touch.
type hostileWorld struct {
	parent, ctx, root, out, canary string
}

const canaryText = "canary\n"

func newHostileWorld(t *testing.T) hostileWorld {
	t.Helper()
	parent := t.TempDir()
	w := hostileWorld{
		parent: parent,
		ctx:    filepath.Join(parent, "ctx"),
		root:   filepath.Join(parent, "state"),
		out:    filepath.Join(parent, "out"),
		canary: filepath.Join(parent, "canary.txt"),
	}
	for _, d := range []string{w.ctx, w.out} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(w.canary, []byte(canaryText), 0o644); err != nil {
		t.Fatal(err)
	}
	return w
}

// check asserts that nothing outside the context, state and output
// directories changed and that no scratch space is left.
func (w hostileWorld) check(t *testing.T) {
	t.Helper()
	data, err := os.ReadFile(w.canary)
	if err != nil || string(data) != canaryText {
		t.Errorf("CANARY CHANGED: %q, %v", data, err)
	}
	var st os.FileInfo
	if st, err = os.Lstat(w.canary); err == nil && !st.Mode().IsRegular() {
		t.Errorf("CANARY REPLACED by %v", st.Mode())
	}
	ents, err := os.ReadDir(w.parent)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		switch e.Name() {
		case "ctx", "state", "out", "canary.txt":
		default:
			t.Errorf("HOST FILE WRITTEN OUTSIDE THE CONTEXT AND STATE DIR: %s", filepath.Join(w.parent, e.Name()))
		}
	}
	if ents, err := os.ReadDir(filepath.Join(w.root, "tmp")); err == nil && len(ents) != 0 {
		t.Errorf("scratch left in the state directory: %v", names(ents))
	}
}

// build runs builder build on the world's context with an OCI layout
// directory as output.
func (w hostileWorld) build(t *testing.T, s shared, dockerfile string, args ...string) (result, string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(w.ctx, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(w.out, "image")
	all := append([]string{"build", "--progress", "plain", "--root", w.root, "-o", "type=oci,dest=" + dest + ",tar=false"}, args...)
	return runBuilder(t, s.builder, nil, append(all, w.ctx)...), dest
}

// gzipZeros is a gzip tar holding one file of size zero bytes.
func gzipZeros(t *testing.T, name string, size int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: size}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(tw, bytes.NewReader(make([]byte, size)), size); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestDecompressionBombs: an ADD archive or a base-image layer expanding
// past its limit fails the build naming the archive or layer, writes no
// output and leaves nothing behind; raising the limit lets the same input
// through, so the failure is the limit's doing.
func TestDecompressionBombs(t *testing.T) {
	s := setup(t)
	bomb := gzipZeros(t, "zeros", 64<<20)
	bombDigest := sha256Hex(bomb)
	cases := []struct {
		name  string
		df    string
		base  []byte // a layer added on top of busybox, named "base"
		args  []string
		want  []string // nil: the build succeeds
		check func(t *testing.T, layout string)
	}{
		{
			name: "ADD archive over --max-archive-size",
			df:   "FROM scratch\nADD bomb.tar.gz /x/\n",
			args: []string{"--max-archive-size", "8m"},
			want: []string{"Dockerfile:2", `"bomb.tar.gz"`, "exceeds the limit of 8MiB"},
		},
		{
			name: "ADD archive under a raised limit",
			df:   "FROM scratch\nADD bomb.tar.gz /x/\n",
			args: []string{"--max-archive-size", "128m"},
		},
		{
			name: "base layer over --max-layer-size",
			df:   "FROM base\nRUN true\n",
			base: bomb,
			args: []string{"--max-layer-size", "16m"},
			want: []string{"Dockerfile:", "sha256:" + bombDigest, "exceeds the limit of 16MiB"},
		},
		{
			name: "base layer under a raised limit",
			df:   "FROM base\nRUN true\n",
			base: bomb,
			args: []string{"--max-layer-size", "1g"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newHostileWorld(t)
			if err := os.WriteFile(filepath.Join(w.ctx, "bomb.tar.gz"), bomb, 0o644); err != nil {
				t.Fatal(err)
			}
			args := tc.args
			if tc.base != nil {
				layout := layoutWithLayer(t, s.busybox, tc.base)
				args = append(args, "--build-context", "base=oci-layout://"+layout+":latest")
			}
			r, _ := w.build(t, s, tc.df, args...)
			defer w.check(t)
			if tc.want == nil {
				mustSucceed(t, r)
				return
			}
			if r.code == 0 {
				t.Fatalf("builder succeeded on a bomb\n%s", r.stderr)
			}
			for _, want := range tc.want {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr does not mention %q:\n%s", want, r.stderr)
				}
			}
			if ents, _ := os.ReadDir(w.out); len(ents) != 0 {
				t.Errorf("output written by a failed build: %v", names(ents))
			}
		})
	}
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// layoutWithLayer copies the OCI layout base (tag "latest") into a new
// directory and adds data, an uncompressed or gzip layer tar, on top of
// its image.
func layoutWithLayer(t *testing.T, base string, data []byte) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := filepath.Glob(filepath.Join(base, "blobs", "sha256", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range src {
		if err := os.Link(p, filepath.Join(blobs, filepath.Base(p))); err != nil {
			b, rerr := os.ReadFile(p)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if err := os.WriteFile(filepath.Join(blobs, filepath.Base(p)), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	put := func(b []byte) string {
		d := sha256Hex(b)
		if err := os.WriteFile(filepath.Join(blobs, d), b, 0o644); err != nil {
			t.Fatal(err)
		}
		return "sha256:" + d
	}
	get := func(d string, v any) {
		b, err := os.ReadFile(filepath.Join(blobs, strings.TrimPrefix(d, "sha256:")))
		if err == nil {
			err = json.Unmarshal(b, v)
		}
		if err != nil {
			t.Fatalf("reading blob %s: %v", d, err)
		}
	}
	var idx map[string]any
	b, err := os.ReadFile(filepath.Join(base, "index.json"))
	if err == nil {
		err = json.Unmarshal(b, &idx)
	}
	if err != nil {
		t.Fatal(err)
	}
	mans := idx["manifests"].([]any)
	desc := mans[0].(map[string]any)
	var man map[string]any
	get(desc["digest"].(string), &man)
	var cfg map[string]any
	cfgDesc := man["config"].(map[string]any)
	get(cfgDesc["digest"].(string), &cfg)

	plain, mediaType := data, "application/vnd.oci.image.layer.v1.tar"
	if zr, err := gzip.NewReader(bytes.NewReader(data)); err == nil {
		if plain, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
		mediaType += "+gzip"
	}
	rootfs := cfg["rootfs"].(map[string]any)
	rootfs["diff_ids"] = append(rootfs["diff_ids"].([]any), "sha256:"+sha256Hex(plain))
	cfgBytes, _ := json.Marshal(cfg)
	cfgDesc["digest"], cfgDesc["size"] = put(cfgBytes), len(cfgBytes)
	man["layers"] = append(man["layers"].([]any), map[string]any{"mediaType": mediaType, "digest": put(data), "size": len(data)})
	manBytes, _ := json.Marshal(man)
	desc["digest"], desc["size"] = put(manBytes), len(manBytes)
	idx["manifests"] = []any{desc}
	idxBytes, _ := json.Marshal(idx)
	if err := os.WriteFile(filepath.Join(dir, "index.json"), idxBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestHostileBaseImage builds FROM an image whose top layer is hostile,
// through RUN and COPY: each layer is refused with its digest and entry
// named, or contained so that nothing outside the state directory changes.
func TestHostileBaseImage(t *testing.T) {
	s := setup(t)
	cases := []struct {
		name    string
		entries func(w hostileWorld) []tartest.Entry
		refuse  []string // empty: the build succeeds, contained
	}{
		{
			name: "entry climbing with ..",
			entries: func(hostileWorld) []tartest.Entry {
				return []tartest.Entry{tartest.File("../../../../escaped.txt", "x")}
			},
			refuse: []string{`"../../../../escaped.txt"`, "climbs above the root"},
		},
		{
			name:    "absolute path onto the canary",
			entries: func(w hostileWorld) []tartest.Entry { return []tartest.Entry{tartest.File(w.canary, "owned")} },
		},
		{
			name: "symlink to the host followed by a write",
			entries: func(w hostileWorld) []tartest.Entry {
				return []tartest.Entry{tartest.Symlink("evil", w.parent), tartest.File("evil/through.txt", "x"), tartest.File("evil/canary.txt", "owned")}
			},
		},
		{
			name: "relative symlink climbing out followed by a write",
			entries: func(hostileWorld) []tartest.Entry {
				return []tartest.Entry{tartest.Symlink("up", "../../../../../../../.."), tartest.File("up/tmp/escaped.txt", "x")}
			},
		},
		{
			name:    "hard link to a host path",
			entries: func(w hostileWorld) []tartest.Entry { return []tartest.Entry{tartest.Link("hl", w.canary)} },
			refuse:  []string{`"hl"`, "hard link target"},
		},
		{
			name:    "hard link climbing out",
			entries: func(hostileWorld) []tartest.Entry { return []tartest.Entry{tartest.Link("hl", "../../../etc/passwd")} },
			refuse:  []string{`"hl"`, "climbs above the root"},
		},
		{
			name: "device nodes",
			entries: func(w hostileWorld) []tartest.Entry {
				return []tartest.Entry{tartest.Char("dev/sda-evil", 8, 0), tartest.Char(w.canary, 1, 3), tartest.Fifo("fifo")}
			},
		},
		{
			name: "duplicate entries",
			entries: func(hostileWorld) []tartest.Entry {
				return []tartest.Entry{tartest.File("dup", "a"), tartest.File("dup", "b"), tartest.Dir("dup"), tartest.File("dup/x", "c"), tartest.Symlink("dup", "/etc")}
			},
		},
		{
			name:    "whiteout above the root",
			entries: func(hostileWorld) []tartest.Entry { return []tartest.Entry{tartest.Whiteout("../../canary.txt")} },
			refuse:  []string{`"../../.wh.canary.txt"`, "climbs above the root"},
		},
		{
			name: "absolute whiteout of the canary",
			entries: func(w hostileWorld) []tartest.Entry {
				return []tartest.Entry{tartest.Whiteout(w.canary), tartest.Opaque(w.parent)}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newHostileWorld(t)
			data := tartest.Build(t, tc.entries(w)...)
			layout := layoutWithLayer(t, s.busybox, data)
			if err := os.WriteFile(filepath.Join(w.ctx, "f"), []byte("context file\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			r, _ := w.build(t, s, "FROM base\nRUN true\nCOPY f /f\n", "--build-context", "base=oci-layout://"+layout+":latest")
			defer w.check(t)
			if len(tc.refuse) == 0 {
				mustSucceed(t, r)
				return
			}
			if r.code == 0 {
				t.Fatalf("builder accepted the hostile layer\n%s", r.stderr)
			}
			want := append([]string{"Dockerfile:2", "sha256:" + sha256Hex(data)}, tc.refuse...)
			for _, s := range want {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr does not mention %q:\n%s", s, r.stderr)
				}
			}
		})
	}
}

// TestAwkwardNames: names with newlines, bytes that are not UTF-8 and
// paths of nearly 4000 bytes, from the context and made by RUN, reach the
// layers unchanged; an error naming such a path stays on one line.
func TestAwkwardNames(t *testing.T) {
	s := setup(t)
	long := ""
	for i := 1; i <= 19; i++ {
		long += fmt.Sprintf("%0200d/", i)
	}
	long += "end" // 3822 bytes
	ctxNames := []string{"new\nline", "latin1-\xe9\xff", long}
	w := newHostileWorld(t)
	for _, n := range ctxNames {
		p := filepath.Join(w.ctx, "src", n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	df := `FROM busybox
COPY src/ /ctx/
RUN mkdir -p "/made/$(printf 'a\nb')" && touch "/made/$(printf 'a\nb')/f" "/made/$(printf 'x\377')" && d=/made/long && for i in $(seq 1 19); do d=$d/$(printf '%0200d' $i); done && mkdir -p $d && touch $d/end
`
	r, layout := w.build(t, s, df, "--build-context", "busybox=oci-layout://"+s.busybox+":latest")
	mustSucceed(t, r)
	w.check(t)
	got := map[string]bool{}
	for _, n := range layoutEntryNames(t, layout) {
		got[strings.TrimSuffix(n, "/")] = true
	}
	for _, want := range []string{"ctx/new\nline", "ctx/latin1-\xe9\xff", "ctx/" + long, "made/a\nb/f", "made/x\xff", "made/long/" + long} {
		if !got[want] {
			t.Errorf("layer lacks %q", want)
		}
	}

	t.Run("error naming such a path", func(t *testing.T) {
		w := newHostileWorld(t)
		r, _ := w.build(t, s, "FROM scratch\nCOPY [\"missing\\nname\\u00ff\", \"/\"]\n")
		if r.code == 0 {
			t.Fatalf("COPY of a missing file succeeded\n%s", r.stderr)
		}
		var line string
		for _, l := range strings.Split(r.stderr, "\n") {
			if strings.Contains(l, "Dockerfile:2") && strings.Contains(l, "missing") {
				line = l
			}
		}
		if !strings.Contains(line, `missing\nname`) || !strings.Contains(line, "not found") {
			t.Errorf("no one-line error quoting the name:\n%s", r.stderr)
		}
		w.check(t)
	})
}

// layoutEntryNames lists the entry names of every layer of the image in
// the OCI layout directory, as written in the tars.
func layoutEntryNames(t *testing.T, layout string) []string {
	t.Helper()
	var man struct {
		Layers []struct{ Digest string } `json:"layers"`
	}
	readManifestOf(t, layout, &man)
	var out []string
	for _, l := range man.Layers {
		f, err := os.Open(filepath.Join(layout, "blobs", strings.Replace(l.Digest, ":", "/", 1)))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("layer %s: %v", l.Digest, err)
		}
		tr := tar.NewReader(zr)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("reading layer %s: %v", l.Digest, err)
			}
			out = append(out, strings.TrimPrefix(h.Name, "./"))
		}
		f.Close()
	}
	return out
}

func readManifestOf(t *testing.T, layout string, v any) {
	t.Helper()
	var idx struct {
		Manifests []struct{ Digest string } `json:"manifests"`
	}
	b, err := os.ReadFile(filepath.Join(layout, "index.json"))
	if err == nil {
		err = json.Unmarshal(b, &idx)
	}
	if err != nil || len(idx.Manifests) != 1 {
		t.Fatalf("reading %s/index.json: %v", layout, err)
	}
	b, err = os.ReadFile(filepath.Join(layout, "blobs", strings.Replace(idx.Manifests[0].Digest, ":", "/", 1)))
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestHugeDockerfile: a Dockerfile of 100,000 metadata lines builds, and
// variables doubled line after line fail with the line where the value
// passes the word size limit instead of eating the machine.
func TestHugeDockerfile(t *testing.T) {
	s := setup(t)
	t.Run("100000 lines", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("FROM scratch\n")
		for i := range 50000 {
			fmt.Fprintf(&b, "LABEL l%d=v%d\n", i, i)
		}
		for i := range 50000 {
			fmt.Fprintf(&b, "ENV E%d=${E%d}-%d\n", i, i/2, i)
		}
		w := newHostileWorld(t)
		r, layout := w.build(t, s, b.String())
		mustSucceed(t, r)
		w.check(t)
		var cfg struct {
			Config struct {
				Env    []string          `json:"Env"`
				Labels map[string]string `json:"Labels"`
			} `json:"config"`
		}
		readConfig(t, layout, &cfg)
		if len(cfg.Config.Labels) != 50000 || len(cfg.Config.Env) != 50001 {
			t.Fatalf("config has %d labels and %d env entries, want 50000 and 50001", len(cfg.Config.Labels), len(cfg.Config.Env))
		}
		if got, want := cfg.Config.Env[50000], "E49999=-0-1-3-6-12-24-48-97-195-390-781-1562-3124-6249-12499-24999-49999"; got != want {
			t.Errorf("last ENV %q, want %q", got, want)
		}
	})
	for _, kw := range []string{"ENV", "ARG"} {
		t.Run("doubling "+kw, func(t *testing.T) {
			var b strings.Builder
			b.WriteString("FROM scratch\n" + kw + " A0=x\n")
			for k := 1; k <= 50; k++ {
				fmt.Fprintf(&b, "%s A%d=$A%d$A%d\n", kw, k, k-1, k-1)
			}
			w := newHostileWorld(t)
			r, _ := w.build(t, s, b.String())
			if r.code == 0 {
				t.Fatalf("doubling 50 times succeeded")
			}
			// A21, 2 MiB, is the first value past the 1 MiB limit; A0 is
			// on line 2.
			if !strings.Contains(r.stderr, "Dockerfile:23: ") || !strings.Contains(r.stderr, "would exceed 1048576 bytes") {
				t.Errorf("stderr does not name line 23 and the limit:\n%s", r.stderr)
			}
			if ents, _ := os.ReadDir(w.out); len(ents) != 0 {
				t.Errorf("output written by a failed build: %v", names(ents))
			}
			w.check(t)
		})
	}
}
