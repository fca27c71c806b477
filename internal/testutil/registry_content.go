package testutil

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/ocibuilder/builder/internal/fsutil"
)

// DockerConfig writes a docker config.json holding user:pass for r.Host
// into a new temporary directory and returns the directory, the value for
// DOCKER_CONFIG (or a --authfile's directory).
func (r *Registry) DockerConfig(t testing.TB, user, pass string) string {
	t.Helper()
	type auth struct {
		Auth string `json:"auth"`
	}
	cfg := struct {
		Auths map[string]auth `json:"auths"`
	}{Auths: map[string]auth{
		r.Host: {Auth: base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))},
	}}
	data, err := json.MarshalIndent(cfg, "", "\t")
	if err != nil {
		t.Fatalf("encoding docker config: %v", err)
	}
	dir := t.TempDir()
	err = fsutil.WriteFileAtomic(filepath.Join(dir, "config.json"), 0o600, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// CopyIn pushes the image ociLayoutRef ("DIR:REF" or "DIR" for a layout
// holding one image, as skopeo's oci: transport takes it) to repoTag in
// r, digests unchanged, authenticating with Creds.
func (r *Registry) CopyIn(t testing.TB, ociLayoutRef, repoTag string) {
	t.Helper()
	args := []string{"copy", "--quiet", "--preserve-digests", "--dest-tls-verify=false"}
	if c := r.Creds(); c != "" {
		args = append(args, "--dest-creds", c)
	}
	r.skopeo(t, append(args, "oci:"+ociLayoutRef, "docker://"+r.Ref(repoTag))...)
}

// CopyOut pulls repoTag from r into the OCI layout ociDir (created when
// missing), tagged with repoTag's tag ("latest" for a digest reference),
// digests unchanged. skopeo verifies every blob it pulls.
func (r *Registry) CopyOut(t testing.TB, repoTag, ociDir string) {
	t.Helper()
	args := []string{"copy", "--quiet", "--preserve-digests", "--src-tls-verify=false"}
	if c := r.Creds(); c != "" {
		args = append(args, "--src-creds", c)
	}
	r.skopeo(t, append(args, "docker://"+r.Ref(repoTag), "oci:"+ociDir+":"+tagOf(repoTag))...)
}

// ManifestDigest returns the digest of the manifest (or index) that
// repoTag resolves to, computed from the bytes the registry serves.
func (r *Registry) ManifestDigest(t testing.TB, repoTag string) string {
	t.Helper()
	args := []string{"inspect", "--raw", "--tls-verify=false"}
	if c := r.Creds(); c != "" {
		args = append(args, "--creds", c)
	}
	raw := r.skopeo(t, append(args, "docker://"+r.Ref(repoTag))...)
	sum := sha256.Sum256(raw)
	return digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(sum[:])).String()
}

// TamperBlob flips one byte of the blob ("sha256:...") as stored on disk,
// keeping its size, so that the registry serves it unchanged in length but
// with the wrong content and only a client that verifies digests notices.
// The blob must be linked into repo (pushed there).
func (r *Registry) TamperBlob(t testing.TB, repo, blob string) {
	t.Helper()
	dgst, err := digest.Parse(blob)
	if err != nil {
		t.Fatalf("tampering with blob %q: %v", blob, err)
	}
	if !repoName.MatchString(repo) {
		t.Fatalf("tampering with blob %s: invalid repository name %q", dgst, repo)
	}
	v2 := filepath.Join(r.Dir, "docker", "registry", "v2")
	link := filepath.Join(v2, "repositories", filepath.FromSlash(repo), "_layers",
		dgst.Algorithm().String(), dgst.Encoded(), "link")
	if _, err := os.Stat(link); err != nil {
		t.Fatalf("tampering with blob %s: not in repository %s: %v", dgst, repo, err)
	}
	data := filepath.Join(v2, "blobs", dgst.Algorithm().String(), dgst.Encoded()[:2], dgst.Encoded(), "data")
	body, err := os.ReadFile(data)
	if err != nil {
		t.Fatalf("tampering with blob %s: %v", dgst, err)
	}
	if len(body) == 0 {
		t.Fatalf("tampering with blob %s: it is empty", dgst)
	}
	body[len(body)/2] ^= 0xff
	err = fsutil.WriteFileAtomic(data, 0o644, func(w io.Writer) error {
		_, err := w.Write(body)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// repoName is distribution's grammar for repository names.
var repoName = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)

// skopeo runs skopeo with args and returns its standard output, failing
// the test with its standard error when it fails.
func (r *Registry) skopeo(t testing.TB, args ...string) []byte {
	t.Helper()
	out, err := Skopeo(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Skopeo runs skopeo with args (with no policy file or credential store
// of the machine in play) and returns its standard output; the error
// carries its standard error. Tests that expect skopeo to fail use it.
func Skopeo(t testing.TB, args ...string) ([]byte, error) {
	t.Helper()
	bin := RequireTool(t, "skopeo")
	policy := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(policy, []byte(`{"default":[{"type":"insecureAcceptAnything"}]}`), 0o644); err != nil {
		t.Fatalf("writing skopeo policy: %v", err)
	}
	cmd := exec.CommandContext(t.Context(), bin, append([]string{"--policy", policy}, args...)...)
	// An empty credential store, so that only the credentials given on
	// the command line (or by the caller's own --authfile) count.
	cmd.Env = append(os.Environ(), "REGISTRY_AUTH_FILE="+filepath.Join(t.TempDir(), "auth.json"),
		"DOCKER_CONFIG="+t.TempDir())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, &SkopeoError{Args: args, Stderr: stderr.String(), Err: err}
	}
	return out, nil
}

// SkopeoError is a failed skopeo run.
type SkopeoError struct {
	Args   []string
	Stderr string
	Err    error
}

// Error gives skopeo's arguments, how it failed and its standard error.
func (e *SkopeoError) Error() string {
	return "running skopeo " + strings.Join(e.Args, " ") + ": " + e.Err.Error() + "\n" + e.Stderr
}

// Unwrap returns how the run failed.
func (e *SkopeoError) Unwrap() error { return e.Err }

// tagOf returns the tag of "repo:tag", or "latest" when repoTag has none
// (an empty one included) or is pinned by digest.
func tagOf(repoTag string) string {
	if strings.Contains(repoTag, "@") {
		return "latest"
	}
	slash := strings.LastIndex(repoTag, "/")
	if i := strings.LastIndex(repoTag, ":"); i > slash && i < len(repoTag)-1 {
		return repoTag[i+1:]
	}
	return "latest"
}
