package parser

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// TestGolden parses every testdata/<case>/Dockerfile with the options in
// testdata/<case>/options and compares the dump with testdata/<case>/want.txt.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "*", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no golden cases found")
	}
	for _, df := range dirs {
		dir := filepath.Dir(df)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			src, err := os.ReadFile(df)
			if err != nil {
				t.Fatal(err)
			}
			opts, err := readOptions(filepath.Join(dir, "options"))
			if err != nil {
				t.Fatal(err)
			}
			var got string
			g, err := Parse(bytes.NewReader(src), opts)
			if err != nil {
				got = "error: " + err.Error() + "\n"
			} else {
				got = dumpGraph(g)
			}
			wantPath := filepath.Join(dir, "want.txt")
			if *update {
				if err := os.WriteFile(wantPath, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(wantPath)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s (run with -update to accept):\n--- got\n%s--- want\n%s", wantPath, got, want)
			}
		})
	}
}

// readOptions reads "key=value" lines: filename, target, build-arg (as
// NAME=VALUE), platform and build-platform (as os/arch[/variant]). A missing
// file means default options, except for fixed platforms so the output does
// not depend on the machine running the tests.
func readOptions(path string) (Options, error) {
	o := Options{
		TargetPlatform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		BuildPlatform:  ocispec.Platform{OS: "linux", Architecture: "amd64"},
		BuildArgs:      map[string]string{},
	}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return o, nil
	}
	if err != nil {
		return o, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "filename":
			o.Filename = v
		case "target":
			o.Target = v
		case "build-arg":
			name, val, _ := strings.Cut(v, "=")
			o.BuildArgs[name] = val
		case "platform":
			o.TargetPlatform = parsePlatform(v)
		case "build-platform":
			o.BuildPlatform = parsePlatform(v)
		default:
			return o, fmt.Errorf("%s: unknown option %q", path, k)
		}
	}
	return o, sc.Err()
}

func parsePlatform(s string) ocispec.Platform {
	parts := strings.SplitN(s, "/", 3)
	p := ocispec.Platform{OS: parts[0]}
	if len(parts) > 1 {
		p.Architecture = parts[1]
	}
	if len(parts) > 2 {
		p.Variant = parts[2]
	}
	return p
}
