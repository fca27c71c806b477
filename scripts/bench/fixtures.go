package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The generated build contexts the scenarios read: made once, kept while
// their spec is unchanged, and identical every time they are made.

// Fixed inputs of the generated contexts; changing any regenerates them.
const (
	copyTreeSeed  = 20_000
	copyTreeFiles = 20_000
	copyTreeBytes = 400 << 20
	// copyTreeTiny files are up to 16 KiB, the next ones up to 128 KiB,
	// and copyTreeLarge files of up to a few MB take what those leave of
	// copyTreeBytes.
	copyTreeTiny  = 17_800
	copyTreeLarge = 200
	// onefilePath is the file copy20k-onefile rewrites.
	onefilePath     = "app/config/settings.txt"
	bigTextSeed     = 1 << 30
	bigTextBytes    = 1 << 30
	run100kDirs     = 4
	run100kPerDir   = 25_000
	run100kBigBytes = 1 << 30
)

// fixtureEpoch (2024-01-01 UTC) is the modification time of every
// generated file, so that a regenerated context is the same one.
const fixtureEpoch = 1_704_067_200

// setFixtureTime gives p the fixtures' modification time.
func setFixtureTime(p string) error {
	t := time.Unix(fixtureEpoch, 0)
	return os.Chtimes(p, t, t)
}

// writeSmallContext writes the small scenario's context: three small files.
func writeSmallContext(dir string) error {
	files := map[string]string{
		"a.txt":         "hello from a\n",
		"b.txt":         strings.Repeat("b", 300) + "\n",
		"conf/app.json": `{"name": "bench", "port": 8080, "debug": false}` + "\n",
	}
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("writing small context: %w", err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			return fmt.Errorf("writing small context: %w", err)
		}
	}
	return nil
}

// ensureFixture makes the generated context fixtures/NAME unless a marker
// beside it says the same one (by spec) is there already.
func (h *harness) ensureFixture(name, spec string, gen func(dir string) error) error {
	dir := h.path("fixtures", name)
	marker := dir + ".done"
	if b, err := os.ReadFile(marker); err == nil && string(b) == spec {
		h.logf("fixture %s: kept (%s)", name, spec)
		return nil
	}
	h.logf("fixture %s: making it (%s)", name, spec)
	tmp := dir + ".partial"
	for _, p := range []string{marker, dir, tmp} {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("removing old fixture: %w", err)
		}
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return fmt.Errorf("creating fixture: %w", err)
	}
	if err := gen(tmp); err != nil {
		return fmt.Errorf("generating %s: %w", dir, err)
	}
	if err := setFixtureTime(tmp); err != nil {
		return fmt.Errorf("setting fixture time: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("moving fixture into place: %w", err)
	}
	if err := os.WriteFile(marker, []byte(spec), 0o644); err != nil {
		return fmt.Errorf("writing fixture marker: %w", err)
	}
	return nil
}

// textSource makes deterministic text: lines of words from a vocabulary of
// made-up words, with the odd number, which compresses like source code
// or prose.
type textSource struct {
	rng   *mrand.Rand
	vocab []string
}

// newTextSource makes a vocabulary of 2000 made-up words from rng.
func newTextSource(rng *mrand.Rand) *textSource {
	t := &textSource{rng: rng}
	const letters = "abcdefghijklmnopqrstuvwxyz"
	for range 2000 {
		w := make([]byte, 2+rng.IntN(9))
		for i := range w {
			w[i] = letters[rng.IntN(len(letters))]
		}
		t.vocab = append(t.vocab, string(w))
	}
	return t
}

// appendLine appends one line of 3 to 14 words.
func (t *textSource) appendLine(b []byte) []byte {
	n := 3 + t.rng.IntN(12)
	for i := range n {
		if i > 0 {
			b = append(b, ' ')
		}
		if t.rng.IntN(10) == 0 {
			b = strconv.AppendInt(b, int64(t.rng.IntN(100000)), 10)
		} else {
			b = append(b, t.vocab[t.rng.IntN(len(t.vocab))]...)
		}
	}
	return append(b, '\n')
}

// corpus returns n bytes of text.
func (t *textSource) corpus(n int) []byte {
	b := make([]byte, 0, n+200)
	for len(b) < n {
		b = t.appendLine(b)
	}
	return b[:n]
}

// genCopyTree writes the copy20k context: copyTreeFiles files totalling
// copyTreeBytes in nested directories. Sizes are log-uniform within three
// tiers: 4 bytes to 16 KiB, 16 to 128 KiB, and a few hundred KiB to a few
// MB. Each file is text or random bytes, at even odds.
func genCopyTree(dir string) error {
	rng := mrand.New(mrand.NewPCG(copyTreeSeed, 1))
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], copyTreeSeed)
	random := mrand.NewChaCha8(seed)
	text := newTextSource(rng)
	corpus := text.corpus(1 << 20)

	sizes, err := copyTreeSizes(rng)
	if err != nil {
		return err
	}
	var dirs []string
	for i := range copyTreeFiles {
		var rel string
		isText := rng.IntN(2) == 0
		if i == 0 {
			rel, isText = onefilePath, true
		} else {
			rel = copyTreePath(rng, i, isText)
		}
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("creating directory: %w", err)
		}
		dirs = append(dirs, filepath.Dir(p))
		var src io.Reader = random
		switch {
		case i == 0:
			src = bytes.NewReader(onefileContent(""))
		case isText:
			src = &ringReader{buf: corpus, off: rng.IntN(len(corpus))}
		}
		if err := writeFileFrom(p, src, sizes[i]); err != nil {
			return err
		}
	}
	slices.Sort(dirs)
	for _, d := range slices.Compact(dirs) {
		for ; d != dir; d = filepath.Dir(d) {
			if err := setFixtureTime(d); err != nil {
				return fmt.Errorf("setting directory time: %w", err)
			}
		}
	}
	return nil
}

// copyTreeSizes draws the copy20k files' sizes from rng, the first being
// onefilePath's.
func copyTreeSizes(rng *mrand.Rand) ([]int64, error) {
	sizes := make([]int64, 0, copyTreeFiles)
	sizes = append(sizes, int64(len(onefileContent("")))) // onefilePath
	logUniform := func(lo, hi float64) int64 {
		return int64(math.Exp(math.Log(lo) + rng.Float64()*(math.Log(hi)-math.Log(lo))))
	}
	for range copyTreeTiny - 1 {
		sizes = append(sizes, logUniform(4, 16<<10))
	}
	for range copyTreeFiles - copyTreeTiny - copyTreeLarge {
		sizes = append(sizes, logUniform(16<<10, 128<<10))
	}
	var fixed int64
	for _, n := range sizes {
		fixed += n
	}
	weights := make([]float64, copyTreeLarge)
	var wsum float64
	for i := range weights {
		weights[i] = float64(logUniform(256<<10, 8<<20))
		wsum += weights[i]
	}
	rest := int64(copyTreeBytes) - fixed
	if rest < copyTreeLarge {
		return nil, errors.New("small files take the whole budget")
	}
	var given int64
	for i, w := range weights {
		n := int64(float64(rest) * w / wsum)
		if i == len(weights)-1 {
			n = rest - given
		}
		sizes = append(sizes, n)
		given += n
	}
	// Spread the large files over the tree; the first file stays put.
	rng.Shuffle(copyTreeFiles-1, func(i, j int) { sizes[i+1], sizes[j+1] = sizes[j+1], sizes[i+1] })
	return sizes, nil
}

// copyTreePath draws from rng the path of copy20k's file i (not the
// first), a text file or not.
func copyTreePath(rng *mrand.Rand, i int, isText bool) string {
	topDirs := []string{"app", "assets", "docs", "lib", "node_modules", "src", "test", "vendor"}
	textExt := []string{".txt", ".js", ".go", ".md", ".json", ".css"}
	binExt := []string{".bin", ".png", ".gz", ".woff2", ".so"}
	ext := textExt[rng.IntN(len(textExt))]
	if !isText {
		ext = binExt[rng.IntN(len(binExt))]
	}
	rel := filepath.Join(topDirs[rng.IntN(len(topDirs))], fmt.Sprintf("m%02d", rng.IntN(16)))
	if rng.IntN(3) > 0 {
		rel = filepath.Join(rel, fmt.Sprintf("p%d", rng.IntN(8)))
		if rng.IntN(2) == 0 {
			rel = filepath.Join(rel, fmt.Sprintf("q%d", rng.IntN(4)))
		}
	}
	return filepath.Join(rel, fmt.Sprintf("f%05d%s", i, ext))
}

// onefileContent is the text of copy20k's onefilePath: a settings file
// that, with a nonce, has one line more.
func onefileContent(nonce string) []byte {
	var b bytes.Buffer
	for i := range 64 {
		fmt.Fprintf(&b, "setting_%02d = value %d\n", i, i*i)
	}
	if nonce != "" {
		fmt.Fprintf(&b, "revision = %s\n", nonce)
	}
	return b.Bytes()
}

// writeOnefile writes onefilePath under dir with onefileContent(nonce).
func writeOnefile(dir, nonce string) error {
	p := filepath.Join(dir, onefilePath)
	if err := os.WriteFile(p, onefileContent(nonce), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", onefilePath, err)
	}
	if nonce == "" {
		// The unchanged file is exactly the generated one, time included.
		if err := setFixtureTime(p); err != nil {
			return fmt.Errorf("setting %s time: %w", onefilePath, err)
		}
	}
	return nil
}

// ringReader reads buf from off onwards, wrapping around, forever.
type ringReader struct {
	buf []byte
	off int
}

func (r *ringReader) Read(p []byte) (int, error) {
	n := copy(p, r.buf[r.off:])
	r.off = (r.off + n) % len(r.buf)
	return n, nil
}

// writeFileFrom writes size bytes of src to a new file p with the
// fixtures' modification time.
func writeFileFrom(p string, src io.Reader, size int64) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("creating %s: %w", p, err)
	}
	if _, err := io.CopyN(f, src, size); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if err := setFixtureTime(p); err != nil {
		return fmt.Errorf("setting time of %s: %w", p, err)
	}
	return nil
}

// genBigText writes gzip1g's context: big.txt, bigTextBytes of numbered
// lines picked from a few thousand distinct ones: repeated text with
// variation, about as compressible as logs.
func genBigText(dir string) error {
	rng := mrand.New(mrand.NewPCG(bigTextSeed, 2))
	text := newTextSource(rng)
	lines := make([][]byte, 4096)
	for i := range lines {
		lines[i] = text.appendLine(nil)
	}
	p := filepath.Join(dir, "big.txt")
	f, err := os.Create(p)
	if err != nil {
		return fmt.Errorf("creating %s: %w", p, err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var written int64
	buf := make([]byte, 0, 256)
	for n := 0; written < bigTextBytes; n++ {
		buf = strconv.AppendInt(buf[:0], int64(n), 10)
		buf = append(buf, ' ')
		buf = append(buf, lines[rng.IntN(len(lines))]...)
		if rest := bigTextBytes - written; int64(len(buf)) > rest {
			buf = buf[:rest]
		}
		if _, err := w.Write(buf); err != nil {
			f.Close()
			return fmt.Errorf("writing %s: %w", p, err)
		}
		written += int64(len(buf))
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	return setFixtureTime(p)
}

// writeGoService copies examples/go-service into dir, unless there, with
// its greeting worded after nonce, so that each round compiles a change.
func writeGoService(dir, nonce string) error {
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		if err := os.CopyFS(dir, os.DirFS(filepath.Join("examples", "go-service"))); err != nil {
			return fmt.Errorf("copying examples/go-service: %w", err)
		}
	}
	p := filepath.Join(dir, "internal", "greeting", "greeting.go")
	code, err := os.ReadFile(filepath.Join("examples", "go-service", "internal", "greeting", "greeting.go"))
	if err != nil {
		return err
	}
	changed := strings.Replace(string(code), `"hello, "`, strconv.Quote("hello ("+nonce+"), "), 1)
	return os.WriteFile(p, []byte(changed), 0o644)
}

// goRoot is the host's Go toolchain, given to the go-service builds.
func goRoot() string {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return runtime.GOROOT()
	}
	return strings.TrimSpace(string(out))
}
