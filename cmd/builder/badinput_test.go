package main

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadInput checks each class of bad input: a clear message naming the
// file and line (or path), a non-zero exit, no output written, no scratch
// directories left in the state directory, and nothing outside touched.
func TestBadInput(t *testing.T) {
	s := setup(t)
	evilTar := func() string {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Name: "../../escaped.txt", Mode: 0o644, Size: 4, Typeflag: tar.TypeReg})
		tw.Write([]byte("evil"))
		tw.Close()
		return buf.String()
	}()
	cases := []struct {
		name     string
		files    map[string]string
		symlinks map[string]string
		args     []string
		want     []string
	}{
		{
			name:  "unknown instruction",
			files: map[string]string{"Dockerfile": "FROM scratch\n\nRUNN echo hi\n"},
			want:  []string{"Dockerfile:3", "unknown instruction", "RUNN"},
		},
		{
			name:  "syntax error in flags",
			files: map[string]string{"Dockerfile": "FROM scratch\nCOPY --bogus=1 a /\n"},
			want:  []string{"Dockerfile:2", "bogus"},
		},
		{
			name:  "unknown target",
			files: map[string]string{"Dockerfile": "FROM scratch AS one\n"},
			args:  []string{"--target", "two"},
			want:  []string{`"two"`, "could not be found"},
		},
		{
			name:  "unknown stage or context in COPY --from",
			files: map[string]string{"Dockerfile": "FROM scratch\nCOPY --from=nowhere /a /a\n"},
			want:  []string{"Dockerfile:2", "nowhere"},
		},
		{
			// Port 1 on loopback: nothing listens, and no traffic
			// leaves the machine.
			name:  "base image whose registry is unreachable",
			files: map[string]string{"Dockerfile": "FROM 127.0.0.1:1/base/alpine:3.20\n"},
			want:  []string{"Dockerfile:1", "127.0.0.1:1/base/alpine:3.20", "connection refused"},
		},
		{
			name:  "missing source",
			files: map[string]string{"Dockerfile": "FROM scratch\nCOPY present.txt /\nCOPY missing.txt /\n", "present.txt": "x"},
			want:  []string{"Dockerfile:3", "missing.txt", "not found"},
		},
		{
			name:  "source above the context",
			files: map[string]string{"Dockerfile": "FROM scratch\nCOPY ../secret /\n"},
			want:  []string{"Dockerfile:2", "outside the build context"},
		},
		{
			name:     "symlink out of the context",
			files:    map[string]string{"Dockerfile": "FROM scratch\nCOPY link /\n"},
			symlinks: map[string]string{"link": "/etc/passwd"},
			want:     []string{"Dockerfile:2", "outside the build context"},
		},
		{
			name:     "relative symlink out of the context",
			files:    map[string]string{"Dockerfile": "FROM scratch\nCOPY dir/link /\n", "dir/x": "x"},
			symlinks: map[string]string{"dir/link": "../../../../../../etc/shadow"},
			want:     []string{"Dockerfile:2", "outside the build context"},
		},
		{
			name:  "hostile archive",
			files: map[string]string{"Dockerfile": "FROM scratch\nADD evil.tar /x/\n", "evil.tar": evilTar},
			want:  []string{"Dockerfile:2", "escaped.txt"},
		},
		{
			name:  "RUN on an image without a shell",
			files: map[string]string{"Dockerfile": "FROM scratch\nRUN echo hi\n"},
			want:  []string{"Dockerfile:2", "/bin/sh"},
		},
		{
			name:  "failing RUN",
			files: map[string]string{"Dockerfile": "FROM busybox\nRUN echo one; echo two >&2; exit 3\n"},
			args:  []string{"--build-context", "busybox=oci-layout://" + s.busybox + ":latest"},
			want:  []string{"Dockerfile:2", "exit code 3", "echo one; echo two", "two"},
		},
		{
			name:  "bad output",
			files: map[string]string{"Dockerfile": "FROM scratch\n"},
			args:  []string{"-o", "type=nonsense,dest=x"},
			want:  []string{"nonsense"},
		},
		{
			name:  "empty Dockerfile",
			files: map[string]string{"Dockerfile": "# nothing\n"},
			want:  []string{"Dockerfile"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			ctx := filepath.Join(parent, "a", "b", "ctx")
			writeFiles(t, ctx, tc.files)
			for name, target := range tc.symlinks {
				if err := os.Symlink(target, filepath.Join(ctx, name)); err != nil {
					t.Fatal(err)
				}
			}
			canary := filepath.Join(parent, "a", "escaped.txt")
			root := filepath.Join(parent, "state")
			outDir := filepath.Join(parent, "out")
			if err := os.Mkdir(outDir, 0o755); err != nil {
				t.Fatal(err)
			}
			dest := filepath.Join(outDir, "image.tar")
			args := append([]string{"build", "--progress", "plain", "--root", root}, tc.args...)
			if !containsOutput(tc.args) {
				args = append(args, "-o", "type=oci,dest="+dest)
			}
			r := runBuilder(t, s.builder, nil, append(args, ctx)...)
			if r.code == 0 {
				t.Fatalf("builder succeeded on bad input\n%s", r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not mention %q:\n%s", w, r.stderr)
				}
			}
			if ents, _ := os.ReadDir(outDir); len(ents) != 0 {
				t.Errorf("output directory not empty after a failed build: %v", names(ents))
			}
			if _, err := os.Stat(canary); err == nil {
				t.Errorf("HOST FILE WRITTEN OUTSIDE THE CONTEXT AND STATE DIR: %s", canary)
			}
			if ents, err := os.ReadDir(filepath.Join(root, "tmp")); err == nil && len(ents) != 0 {
				t.Errorf("scratch left in the state directory: %v", names(ents))
			}
		})
	}
}

func containsOutput(args []string) bool {
	for _, a := range args {
		if a == "-o" {
			return true
		}
	}
	return false
}

func names(ents []os.DirEntry) []string {
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// TestFailedBuildKeepsPreviousOutput: a build that fails must not damage
// an output an earlier build wrote.
func TestFailedBuildKeepsPreviousOutput(t *testing.T) {
	s := setup(t)
	ctx := t.TempDir()
	writeFiles(t, ctx, map[string]string{"Dockerfile": "FROM scratch\nCOPY a /\n", "a": "1"})
	dest := filepath.Join(t.TempDir(), "layout")
	mustSucceed(t, runBuilder(t, s.builder, nil, "build", "--root", t.TempDir(), "-t", "x:1", "-o", "type=oci,tar=false,dest="+dest, ctx))
	before, err := os.ReadFile(filepath.Join(dest, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, ctx, map[string]string{"Dockerfile": "FROM scratch\nCOPY a /\nCOPY nope /\n"})
	r := runBuilder(t, s.builder, nil, "build", "--root", t.TempDir(), "-t", "x:1", "-o", "type=oci,tar=false,dest="+dest, ctx)
	if r.code == 0 {
		t.Fatal("build with a missing source succeeded")
	}
	after, err := os.ReadFile(filepath.Join(dest, "index.json"))
	if err != nil || !bytes.Equal(before, after) {
		t.Errorf("previous output changed by a failed build: %v", err)
	}
	skopeoJSON(t, "oci:"+dest+":1")
}
