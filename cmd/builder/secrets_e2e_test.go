package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunSecretMounts: a secret given with --secret is readable by the RUN
// step that mounts it (its hash, computed in the step, lands in the image)
// and its bytes appear nowhere in the output or the state directory: no
// layer, config, history, manifest or index holds them, and no
// /run/secrets mountpoint reaches a layer.
func TestRunSecretMounts(t *testing.T) {
	s := setup(t)
	secret := "tok-7f3a9c1e5b2d8f4a6c0e9b3d7a1f5c8e2b4d6a0f"
	sum := sha256.Sum256([]byte(secret))
	want := hex.EncodeToString(sum[:])
	secretFile := writeTemp(t, []byte(secret))
	for _, tc := range []struct {
		name, dockerfile string
		flags, env       []string
	}{
		{
			name:       "file at the default path",
			dockerfile: "FROM busybox\nRUN --mount=type=secret,id=tok sha256sum /run/secrets/tok | cut -d' ' -f1 > /sum\n",
			flags:      []string{"--secret", "id=tok,src=" + secretFile},
		},
		{
			name: "file at a target with owner and mode",
			dockerfile: "FROM busybox\nRUN --mount=type=secret,id=tok,target=/etc/app/key,uid=7,gid=8,mode=0440 " +
				"test \"$(stat -c '%u %g %a' /etc/app/key)\" = '7 8 440' && sha256sum /etc/app/key | cut -d' ' -f1 > /sum\n",
			flags: []string{"--secret", "type=file,id=tok,source=" + secretFile},
		},
		{
			name:       "environment variable from an environment variable",
			dockerfile: "FROM busybox\nRUN --mount=type=secret,id=tok,env=TOKEN,required printf %s \"$TOKEN\" | sha256sum | cut -d' ' -f1 > /sum\n",
			flags:      []string{"--secret", "id=tok,env=MY_TOKEN"},
			env:        []string{"MY_TOKEN=" + secret},
		},
		{
			name:       "bare id names a set variable",
			dockerfile: "FROM busybox\nRUN --mount=type=secret,id=TOK_VAR sha256sum /run/secrets/TOK_VAR | cut -d' ' -f1 > /sum\n",
			flags:      []string{"--secret", "id=TOK_VAR"},
			env:        []string{"TOK_VAR=" + secret},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.TempDir()
			writeFiles(t, ctx, map[string]string{"Dockerfile": tc.dockerfile})
			root := t.TempDir()
			out := filepath.Join(t.TempDir(), "img")
			args := append([]string{"build", "--root", root, "--progress", "plain",
				"--build-context", "busybox=oci-layout://" + s.busybox + ":latest",
				"-o", "type=oci,tar=false,dest=" + out, "-t", "s:1"}, tc.flags...)
			r := runBuilder(t, s.builder, tc.env, append(args, ctx)...)
			mustSucceed(t, r)
			rootfs := umociUnpack(t, out, "1")
			if data, err := os.ReadFile(filepath.Join(rootfs, "sum")); err != nil || strings.TrimSpace(string(data)) != want {
				t.Errorf("hash of the secret read in the step = %q, %v; want %s", data, err, want)
			}
			for _, dir := range []string{out, root} {
				if where := findBytes(t, dir, []byte(secret)); len(where) != 0 {
					t.Errorf("the secret leaked into %v", where)
				}
			}
			if strings.Contains(r.stderr, secret) {
				t.Errorf("the secret leaked into the progress output:\n%s", r.stderr)
			}
			for _, name := range layerEntries(t, out, s.busybox) {
				if name == "run" || strings.HasPrefix(name, "run/") || strings.HasPrefix(name, "etc/app") {
					t.Errorf("secret mountpoint %s leaked into a layer", name)
				}
			}
		})
	}
}

// TestRunSecretMountErrors: a missing required secret or ssh agent and
// mounts that cannot be made fail the build with the Dockerfile line; a
// missing optional secret or agent is simply absent.
func TestRunSecretMountErrors(t *testing.T) {
	s := setup(t)
	for _, tc := range []struct {
		name, run string
		wantErr   string // "" means the build succeeds
	}{
		{"required secret missing", "RUN --mount=type=secret,id=absent,required=true true", `Dockerfile:2: secret "absent" is required`},
		{"optional secret missing", "RUN --mount=type=secret,id=absent test ! -e /run/secrets/absent && test ! -e /run/secrets", ""},
		{"optional env secret missing", "RUN --mount=type=secret,id=absent,env=V test -z \"$V\"", ""},
		{"required ssh agent missing", "RUN --mount=type=ssh,required=true true", "Dockerfile:2: RUN --mount=type=ssh,id=default: no SSH agent"},
		{"optional ssh agent missing", "RUN --mount=type=ssh test -z \"$SSH_AUTH_SOCK\" && test ! -e /run/buildkit", ""},
		{"cache mount without target", "RUN --mount=type=cache true", "Dockerfile:2:"},
		{"bind mount of a missing source", "RUN --mount=source=nope,target=/c true", "Dockerfile:2:"},
		{"tmpfs mount at the root", "RUN --mount=type=tmpfs,target=/ true", "Dockerfile:2: RUN --mount=type=tmpfs: target \"/\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.TempDir()
			writeFiles(t, ctx, map[string]string{"Dockerfile": "FROM busybox\n" + tc.run + "\n"})
			dest := filepath.Join(t.TempDir(), "out.tar")
			r := runBuilder(t, s.builder, nil, "build", "--root", t.TempDir(), "--progress", "plain",
				"--build-context", "busybox=oci-layout://"+s.busybox+":latest", "-o", "type=oci,dest="+dest, ctx)
			if tc.wantErr == "" {
				mustSucceed(t, r)
				return
			}
			if r.code == 0 {
				t.Fatalf("build succeeded; want an error containing %q", tc.wantErr)
			}
			if !strings.Contains(r.stderr, tc.wantErr) {
				t.Errorf("error does not contain %q:\n%s", tc.wantErr, r.stderr)
			}
			if _, err := os.Stat(dest); err == nil {
				t.Error("a failed build wrote its output")
			}
		})
	}
}

// findBytes returns the files under dir holding needle, in their stored
// bytes or, for gzip files (layers), decompressed.
func findBytes(t *testing.T, dir string, needle []byte) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(data, needle) {
			hits = append(hits, p)
			return nil
		}
		if plain, ok := gunzip(data); ok && bytes.Contains(plain, needle) {
			hits = append(hits, p+" (decompressed)")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

// gunzip decompresses data when it is gzip.
func gunzip(data []byte) ([]byte, bool) {
	if len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b {
		return nil, false
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, false
	}
	plain, err := io.ReadAll(zr)
	return plain, err == nil
}

// layerEntries lists the entry names of every gzip layer tar among the
// layout's blobs, except the blobs the base layout holds too.
func layerEntries(t *testing.T, layout, base string) []string {
	t.Helper()
	blobs, err := filepath.Glob(filepath.Join(layout, "blobs", "sha256", "*"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range blobs {
		if _, err := os.Stat(filepath.Join(base, "blobs", "sha256", filepath.Base(b))); err == nil {
			continue
		}
		data, err := os.ReadFile(b)
		if err != nil {
			t.Fatal(err)
		}
		plain, ok := gunzip(data)
		if !ok {
			continue
		}
		tr := tar.NewReader(bytes.NewReader(plain))
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("reading layer %s: %v", b, err)
			}
			names = append(names, strings.TrimPrefix(strings.TrimPrefix(h.Name, "./"), "/"))
		}
	}
	return names
}
