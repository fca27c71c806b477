package testutil

import (
	"bufio"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
)

// sshdBinary is Debian's OpenSSH server (package openssh-server).
const sshdBinary = "/usr/sbin/sshd"

// GitSSH serves a GitServer's repositories over ssh: OpenSSH's sshd in
// inetd mode, one per connection, on a free loopback port. It accepts
// one key, for the user running the test, which an ssh-agent of the
// test's own holds.
type GitSSH struct {
	// Host is "127.0.0.1:PORT".
	Host string
	// User is the login, the user running the test.
	User string
	// Env is what git needs to reach the server: SSH_AUTH_SOCK (the
	// agent's socket) and a GIT_SSH_COMMAND that trusts the server's host
	// key alone and connects to its port.
	Env []string
}

// StartSSH starts the ssh server; it stops when the test ends. A missing
// sshd fails the test (make test-deps installs it). sshd needs its
// privilege separation directory, /run/sshd, which is made when missing.
func (s *GitServer) StartSSH(t testing.TB) *GitSSH {
	t.Helper()
	if _, err := os.Stat(sshdBinary); err != nil {
		t.Fatalf("%s is required by this test: install openssh-server (make test-deps): %v", sshdBinary, err)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keygen := RequireTool(t, "ssh-keygen")
	for _, k := range []string{"host", "user"} {
		out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-C", k, "-f", filepath.Join(dir, k)).CombinedOutput()
		if err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
	}
	config := strings.Join([]string{
		"HostKey " + filepath.Join(dir, "host"),
		"AuthorizedKeysFile " + filepath.Join(dir, "user.pub"),
		"AuthenticationMethods publickey",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"UsePAM no",
		"StrictModes no",
		"PermitRootLogin prohibit-password",
		"AllowUsers " + u.Username,
		"PidFile none",
		"LogLevel ERROR",
	}, "\n") + "\n"
	cfgPath := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	host := serveInetd(t, "sshd", func() *exec.Cmd { return exec.Command(sshdBinary, "-i", "-e", "-f", cfgPath) })
	sock := startAgent(t, dir, filepath.Join(dir, "user"))
	knownHosts := filepath.Join(dir, "known_hosts")
	writeKnownHost(t, knownHosts, host, filepath.Join(dir, "host.pub"))
	_, port, _ := strings.Cut(host, ":")
	return &GitSSH{Host: host, User: u.Username, Env: []string{
		"PATH=" + os.Getenv("PATH"),
		"SSH_AUTH_SOCK=" + sock,
		"GIT_SSH_COMMAND=ssh -F /dev/null -o BatchMode=yes -o UserKnownHostsFile=" + knownHosts +
			" -o GlobalKnownHostsFile=/dev/null -p " + port,
	}}
}

// startAgent runs an ssh-agent holding key, until the test ends, and
// returns its socket.
func startAgent(t testing.TB, dir, key string) string {
	t.Helper()
	sock := filepath.Join(dir, "agent.sock")
	cmd := exec.Command(RequireTool(t, "ssh-agent"), "-D", "-a", sock)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	// The agent prints where it listens once it does.
	if _, err := bufio.NewReader(stdout).ReadString('\n'); err != nil {
		t.Fatalf("ssh-agent: %v", err)
	}
	add := exec.Command(RequireTool(t, "ssh-add"), "-q", key)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v\n%s", err, out)
	}
	return sock
}

// writeKnownHost writes a known_hosts file trusting the public key in
// pubFile for host ("IP:PORT").
func writeKnownHost(t testing.TB, path, host, pubFile string) {
	t.Helper()
	pub, err := os.ReadFile(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	ip, port, _ := strings.Cut(host, ":")
	line := "[" + ip + "]:" + port + " " + string(pub)
	if err := os.WriteFile(path, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
}

// SSHURL is the repository's ssh:// URL on server.
func (r *GitRepo) SSHURL(server *GitSSH) string {
	return "ssh://" + server.User + "@" + server.Host + r.Bare()
}

// SCPURL is the repository's scp-like URL (user@host:path) on server,
// whose port only server.Env's GIT_SSH_COMMAND gives.
func (r *GitRepo) SCPURL(server *GitSSH) string {
	ip, _, _ := strings.Cut(server.Host, ":")
	return server.User + "@" + ip + ":" + r.Bare()
}
