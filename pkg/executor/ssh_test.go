package executor_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocibuilder/builder/internal/testutil"
	"github.com/ocibuilder/builder/pkg/executor"
	"github.com/ocibuilder/builder/pkg/parser"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// sshList compiles internal/testutil/sshlist into a build context
// directory and returns the directory.
func sshList(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "sshlist"), "./internal/testutil/sshlist")
	cmd.Dir = testutil.RepoRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building sshlist: %v\n%s", err, out)
	}
	return dir
}

// newKey returns a new ed25519 key and its OpenSSH private key file.
func newKey(t *testing.T, dir, name string, passphrase []byte) (ssh.PublicKey, string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase != nil {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "", passphrase)
	} else {
		block, err = ssh.MarshalPrivateKey(priv, "")
	}
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sp, p
}

// serveAgent serves a keyring holding key on a unix socket until the
// test ends.
func serveAgent(t *testing.T, keyFile string) string {
	t.Helper()
	raw, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ssh.ParseRawPrivateKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	kr := agent.NewKeyring()
	if err := kr.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = agent.ServeAgent(kr, c)
			}()
		}
	}()
	return sock
}

// TestRunMountSSH: a step reaches the keys of --ssh through
// SSH_AUTH_SOCK, served from key files or forwarded from an agent socket,
// at the default target or its own, with the socket's owner and mode as
// asked; the socket and its mountpoint never reach the layer.
func TestRunMountSSH(t *testing.T) {
	requireSandbox(t)
	ctxDir := sshList(t)
	keys := t.TempDir()
	pub1, file1 := newKey(t, keys, "id1", nil)
	pub2, file2 := newKey(t, keys, "id2", nil)
	sock := serveAgent(t, file2)
	s := spec{base: busyboxBase(t), contextDir: ctxDir, epoch: runEpoch(), dockerfile: `FROM base
RUN --mount=type=bind,source=sshlist,target=/sshlist --mount=type=ssh \
    echo "$SSH_AUTH_SOCK" > /sock && stat -c '%a %u %g %F' "$SSH_AUTH_SOCK" > /stat && /sshlist > /keys.default
RUN --mount=type=bind,source=sshlist,target=/sshlist --mount=type=ssh,id=fwd,target=/agent.sock,uid=1000,gid=1001,mode=0660 \
    stat -c '%a %u %g' /agent.sock > /stat.fwd && /sshlist > /keys.fwd
RUN --mount=type=ssh,id=absent echo "[$SSH_AUTH_SOCK]" > /absent
`}
	for _, snap := range snapshotters() {
		r := mustRunBuild(t, s, snap, func(o *executor.Options) {
			o.SSH = map[string][]string{"default": {file1, file2}, "fwd": {sock}}
		})
		r.wantFile(t, "sock", "/run/buildkit/ssh_agent.0\n")
		r.wantFile(t, "stat", "600 0 0 socket\n")
		r.wantFile(t, "keys.default", ssh.FingerprintSHA256(pub1)+"\n"+ssh.FingerprintSHA256(pub2)+"\n")
		r.wantFile(t, "stat.fwd", "660 1000 1001\n")
		r.wantFile(t, "keys.fwd", ssh.FingerprintSHA256(pub2)+"\n")
		r.wantFile(t, "absent", "[]\n")
		for _, p := range []string{"run/buildkit", "agent.sock", "sshlist"} {
			if r.exists(p) {
				t.Errorf("%s: /%s is in the image", snap, p)
			}
		}
	}
}

func TestRunMountSSHErrors(t *testing.T) {
	requireSandbox(t)
	keys := t.TempDir()
	_, locked := newKey(t, keys, "locked", []byte("secret"))
	base := busyboxBase(t)
	s := spec{base: base, dockerfile: "FROM base\nRUN --mount=type=ssh,id=missing,required=true true\n"}
	_, err := runBuild(t, s, executor.SnapshotterOverlay, nil)
	var perr *parser.Error
	if !errors.As(err, &perr) || perr.Loc.Line != 2 || !strings.Contains(err.Error(), "--ssh missing=") {
		t.Errorf("required missing agent: %v; want an error at line 2 naming --ssh", err)
	}
	s = spec{base: base, dockerfile: "FROM base\nRUN --mount=type=ssh true\n"}
	_, err = runBuild(t, s, executor.SnapshotterOverlay, func(o *executor.Options) {
		o.SSH = map[string][]string{"default": {locked}}
	})
	if err == nil || !strings.Contains(err.Error(), "passphrase") {
		t.Errorf("passphrase-protected key: %v; want an error saying so", err)
	}
	_, err = runBuild(t, s, executor.SnapshotterOverlay, func(o *executor.Options) {
		o.SSH = map[string][]string{"default": {filepath.Join(keys, "nope")}}
	})
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing key file: %v; want an error naming it", err)
	}
}
