package gitsource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// defaultSSHCommand is the ssh git runs for ssh sources unless the
// builder's environment sets GIT_SSH_COMMAND: no user ssh configuration
// (as in BuildKit), host keys checked against the known_hosts files of
// the user running the build, and never a prompt.
const defaultSSHCommand = "ssh -F /dev/null -o BatchMode=yes"

// passedEnv are the variables of the builder's environment git sees:
// what finds programs, reaches the network and authenticates over ssh.
var passedEnv = []string{
	"PATH", "SSH_AUTH_SOCK", "GIT_SSH_COMMAND",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
	"http_proxy", "https_proxy", "no_proxy", "all_proxy",
}

// config is what every git command runs with: hooks off, no background
// maintenance, submodules never from the local filesystem, no advice.
var config = []string{
	"-c", "core.hooksPath=/dev/null",
	"-c", "protocol.file.allow=never",
	"-c", "gc.auto=0",
	"-c", "maintenance.auto=false",
	"-c", "advice.detachedHead=false",
	"-c", "init.defaultBranch=master",
}

// Git runs the host's git for ADD sources.
type Git struct {
	env []string
}

// New returns a Git whose commands see, of env (the builder's
// environment, os.Environ() when nil), only PATH, SSH_AUTH_SOCK,
// GIT_SSH_COMMAND and the proxy variables. No system or user git
// configuration is read (GIT_CONFIG_NOSYSTEM, HOME=/dev/null as in
// BuildKit), and git never prompts (GIT_TERMINAL_PROMPT=0, no terminal).
func New(env []string) *Git {
	if env == nil {
		env = os.Environ()
	}
	out := []string{
		"GIT_TERMINAL_PROMPT=0",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"HOME=/dev/null",
		"LC_ALL=C",
	}
	vals := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && slices.Contains(passedEnv, k) {
			vals[k] = v
		}
	}
	if vals["PATH"] == "" {
		vals["PATH"] = "/usr/local/bin:/usr/bin:/bin"
	}
	if vals["GIT_SSH_COMMAND"] == "" {
		vals["GIT_SSH_COMMAND"] = defaultSSHCommand
	}
	for _, k := range passedEnv {
		if v, ok := vals[k]; ok {
			out = append(out, k+"="+v)
		}
	}
	return &Git{env: out}
}

// run runs git with args in dir ("" for none) for src, and returns its
// standard output. A command that fails is an error with git's own
// message, src's credentials masked. As in BuildKit, a --depth=1 the
// server cannot serve (a dumb http server) is dropped and the command
// run again.
func (g *Git) run(ctx context.Context, src *Source, dir string, args ...string) ([]byte, error) {
	for {
		var stdout, stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, "git", append(slices.Clone(config), args...)...)
		cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, g.env, &stdout, &stderr
		cmd.SysProcAttr = sysProcAttr()
		cmd.Cancel = func() error { return killGroup(cmd) }
		// Helpers git started (ssh, remote-https) hold its output
		// open for no longer than this once git is killed.
		cmd.WaitDelay = 10 * time.Second
		err := runWithUmask(cmd)
		if err == nil {
			return stdout.Bytes(), nil
		}
		msg := strings.TrimSpace(src.mask(stderr.String()))
		if i := slices.Index(args, "--depth=1"); i >= 0 && ctx.Err() == nil &&
			(strings.Contains(msg, "shallow") || strings.Contains(msg, "--depth")) {
			args = slices.Delete(slices.Clone(args), i, i+1)
			continue
		}
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("git %s: %w", args[0], cerr)
		}
		if errors.Is(err, exec.ErrNotFound) {
			return nil, fmt.Errorf("git sources need the git program on the host: %w", err)
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) && msg != "" {
			return nil, fmt.Errorf("git %s: %s", args[0], msg)
		}
		return nil, fmt.Errorf("git %s: %w", args[0], err)
	}
}
