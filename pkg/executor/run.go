package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	dfparser "github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/ocibuilder/builder/internal/imageuser"
	"github.com/ocibuilder/builder/internal/snapshot"
	"github.com/ocibuilder/builder/pkg/executor/sandbox"
	"github.com/ocibuilder/builder/pkg/parser"
)

// runStep executes a RUN instruction in a sandbox, through the step
// cache, and commits what it changed as a layer.
func (b *builder) runStep(ctx context.Context, ss *stageState, step *parser.Step, c *instructions.RunCommand, sr *stepRun) (bool, error) {
	if err := b.sandboxReady(); err != nil {
		return false, err
	}
	mounts, err := b.runMounts(step, instructions.GetMounts(c), ss.cfg.Config.WorkingDir, sr)
	if err != nil {
		return false, err
	}
	defer mounts.close()
	insecure, err := b.runSecurity(c)
	if err != nil {
		return false, err
	}
	network, err := b.runNetwork(c)
	if err != nil {
		return false, err
	}
	args, devFiles, err := runArgs(ss, c)
	if err != nil {
		return false, err
	}
	in, err := runInput(ss, c, args, devFiles, network)
	if err != nil {
		return false, err
	}
	if err := mounts.keyInput(ctx, &in); err != nil {
		return false, err
	}
	return b.layerStep(ss, step, sr, in, nil, func() (bool, error) {
		return b.execRun(ctx, ss, step, runSpec{args: args, devFiles: devFiles, mounts: mounts, network: network, insecure: insecure}, sr)
	})
}

// runSpec is a RUN step after expansion.
type runSpec struct {
	args     []string
	devFiles map[string][]byte
	mounts   stepMounts
	network  NetworkMode
	insecure bool // --security=insecure
}

// runSecurity reads RUN --security: sandbox (the default), or insecure
// when the build allows it.
func (b *builder) runSecurity(c *instructions.RunCommand) (bool, error) {
	switch sec := instructions.GetSecurity(c); sec {
	case "", "sandbox":
		return false, nil
	case "insecure":
		if !b.allowed(EntitlementSecurityInsecure) {
			return false, errors.New("RUN --security=insecure is not allowed: the build must be given --allow security.insecure")
		}
		return true, nil
	default:
		return false, fmt.Errorf("RUN --security=%s: want sandbox or insecure", sec)
	}
}

// execRun runs a RUN step in the sandbox, on a root filesystem from the
// build's snapshotter, and commits its layer.
func (b *builder) execRun(ctx context.Context, ss *stageState, step *parser.Step, rs runSpec, log io.Writer) (bool, error) {
	if len(ss.dirs) > snapshot.MaxLowerDirs {
		// A deep stack is squashed into a directory named by diff IDs,
		// and the layers' directories move when they are settled:
		// both must happen before the stage's view is taken.
		if err := b.settle(ss); err != nil {
			return false, err
		}
	}
	lower, err := b.stack(ctx, ss)
	if err != nil {
		return false, err
	}
	user, err := imageuser.Resolve(ss.cfg.Config.User, lower)
	if err != nil {
		return false, fmt.Errorf("USER %s: %w", ss.cfg.Config.User, err)
	}
	snapper, err := b.snapshotter(log)
	if err != nil {
		return false, err
	}
	scratch, err := b.state.scratchDir("run-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(scratch)
	spec, err := b.runSandboxSpec(ss, rs, user, filepath.Join(scratch, "sandbox"))
	if err != nil {
		return false, err
	}
	mounts, err := b.prepareMounts(ctx, rs.mounts, scratch, log)
	if err != nil {
		return false, err
	}
	defer mounts.release()
	spec.Mounts = mounts.mounts
	snap, err := snapper.Prepare(ctx, lower, ss.cfg.RootFS.DiffIDs)
	if err != nil {
		return false, err
	}
	defer snap.Release()
	spec.Rootfs = sandboxRootfs(snap.Mounts())
	res, err := b.runSandbox(ctx, step, spec, log)
	if err != nil {
		return false, err
	}
	exclude, err := removeStubs(snap.Mounts().WriteDir(), res.Stubs)
	if err != nil {
		return false, err
	}
	out, err := snap.Commit()
	if err != nil {
		return false, err
	}
	if out.IsLayer {
		return b.commitLayerAsync(ctx, ss, step.Loc, out.Dir, snap.Changes(exclude...))
	}
	return b.commitLayer(ctx, ss, out.Dir, snap.Changes(exclude...), false)
}

// runSandboxSpec is the sandbox spec of a RUN step but for its root
// filesystem. stateDir, the sandbox's own directory, is created.
func (b *builder) runSandboxSpec(ss *stageState, rs runSpec, user imageuser.Identity, stateDir string) (sandbox.Spec, error) {
	spec := sandbox.Spec{
		Args:       rs.args,
		Env:        withEnv(runEnv(ss.env(), user.Home), rs.mounts.env),
		Cwd:        ss.cfg.Config.WorkingDir,
		UID:        user.UID,
		GID:        user.GID,
		Groups:     user.Groups,
		Hosts:      []byte("127.0.0.1\tlocalhost " + sandbox.DefaultHostname + "\n::1\tlocalhost ip6-localhost ip6-loopback\n"),
		ResolvConf: resolvConf(rs.network),
		Network:    sandboxNetwork(rs.network),
		StateDir:   stateDir,
		DevFiles:   rs.devFiles,
		Secrets:    rs.mounts.secrets,
		Insecure:   rs.insecure,
		Reaped:     &b.reaped,
	}
	if err := os.Mkdir(stateDir, 0o700); err != nil {
		return sandbox.Spec{}, fmt.Errorf("preparing the sandbox: %w", err)
	}
	return spec, nil
}

// sandboxRootfs is the sandbox's form of a snapshot's mounts.
func sandboxRootfs(m snapshot.Mounts) sandbox.Rootfs {
	if m.Overlay == nil {
		return sandbox.Rootfs{Dir: m.Dir}
	}
	o := m.Overlay
	return sandbox.Rootfs{Overlay: &sandbox.Overlay{LowerDirs: o.LowerDirs, UpperDir: o.UpperDir, WorkDir: o.WorkDir}}
}

// runSandbox runs spec in a cgroup of its own, if the build limits steps,
// with the command's output going to log. A command that fails is a
// *StepError.
func (b *builder) runSandbox(ctx context.Context, step *parser.Step, spec sandbox.Spec, log io.Writer) (sandbox.Result, error) {
	tail := newTailWriter(log, 20)
	group, err := b.stepCgroup(log)
	if err != nil {
		return sandbox.Result{}, err
	}
	if group != nil {
		spec.Cgroup = group
	}
	res, err := sandbox.Run(ctx, spec, nil, tail, tail)
	if rmErr := removeCgroup(ctx, group); err == nil {
		err = rmErr
	}
	if err != nil {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		return res, fmt.Errorf("running %q: %w", strings.Join(spec.Args, " "), err)
	}
	if res.ExitCode != 0 {
		se := &StepError{Loc: step.Loc, Cmd: spec.Args, ExitCode: res.ExitCode, Signal: res.Signal, Tail: tail.lines()}
		if res.OOMKilled && group != nil {
			se.OOMKilled, se.MemoryLimit = true, group.Limits().Memory
		}
		return res, se
	}
	return res, nil
}

// runArgs builds the argv of a RUN step: exec form as is, shell form
// through the stage's SHELL, heredocs as BuildKit runs them. devFiles are
// scripts the sandbox provides under /dev/pipes.
func runArgs(ss *stageState, c *instructions.RunCommand) ([]string, map[string][]byte, error) {
	args := c.CmdLine
	var devFiles map[string][]byte
	if len(c.Files) > 0 {
		if len(args) != 1 || !c.PrependShell {
			return nil, nil, fmt.Errorf("heredoc in an exec-form RUN: %v", args)
		}
		if hd := dfparser.MustParseHeredoc(args[0]); hd != nil {
			data := c.Files[0].Data
			if c.Files[0].Chomp {
				data = dfparser.ChompHeredocContent(data)
			}
			if strings.HasPrefix(data, "#!") {
				// A script with its own interpreter runs as a file.
				name := filepath.Base(c.Files[0].Name)
				devFiles = map[string][]byte{name: []byte(data)}
				return []string{"/dev/pipes/" + name}, devFiles, nil
			}
			args = []string{data}
		} else {
			var b strings.Builder
			b.WriteString(args[0])
			for _, f := range c.Files {
				b.WriteString("\n" + f.Data + f.Name)
			}
			args = []string{b.String()}
		}
	}
	if !c.PrependShell {
		return append([]string{}, args...), devFiles, nil
	}
	sh := ss.cfg.Config.Shell
	if len(sh) == 0 {
		sh = []string{"/bin/sh", "-c"}
	}
	return append(append([]string{}, sh...), strings.Join(args, " ")), devFiles, nil
}

// runEnv is the environment of a RUN step: the stage's, with HOME set
// from the user's passwd entry (or "/") when the stage sets none, as runc
// does for docker build.
func runEnv(env []string, home string) []string {
	for _, kv := range env {
		if strings.HasPrefix(kv, "HOME=") {
			return env
		}
	}
	if home == "" {
		home = "/"
	}
	return append(env, "HOME="+home)
}

// resolvConf is the /etc/resolv.conf steps see: the host's on the host's
// network; on a private network the host's search domains and options,
// with the user-mode network's DNS forwarder as the name server (a host
// resolver on 127.0.0.53 would not answer there).
func resolvConf(n NetworkMode) []byte {
	data, err := os.ReadFile("/etc/resolv.conf")
	if err != nil || len(data) > 64<<10 {
		data = nil
	}
	if n == NetworkHost {
		if data == nil {
			return []byte("nameserver 127.0.0.1\n")
		}
		return data
	}
	var out strings.Builder
	for line := range strings.Lines(string(data)) {
		if f := strings.Fields(line); len(f) > 0 && (f[0] == "search" || f[0] == "options") {
			out.WriteString(strings.TrimRight(line, "\n") + "\n")
		}
	}
	out.WriteString("nameserver " + sandbox.UserNetworkDNS + "\n")
	return []byte(out.String())
}

// removeStubs deletes the mountpoints the sandbox created in the root
// filesystem, deepest first, while they are still empty stubs. Their
// directories keep their times, so a stub leaves no trace in the layer.
// It returns the stubs the layer must still leave out: those it could not
// remove, except directories the step put something in, which belong to
// the layer like any directory the step made (leaving them out would drop
// what the step wrote there).
func removeStubs(root string, stubs []string) ([]string, error) {
	var keep []string
	for i := len(stubs) - 1; i >= 0; i-- {
		p := filepath.Join(root, filepath.FromSlash(stubs[i]))
		fi, err := os.Lstat(p)
		if err != nil {
			continue
		}
		if !(fi.IsDir() || fi.Mode().IsRegular() && fi.Size() == 0) {
			keep = append(keep, stubs[i])
			continue
		}
		parent, err := os.Lstat(filepath.Dir(p))
		if err != nil {
			return nil, fmt.Errorf("removing mountpoint %s: %w", stubs[i], err)
		}
		if err := os.Remove(p); err != nil {
			if errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST) {
				// The step put something there: it stays.
				if !fi.IsDir() {
					keep = append(keep, stubs[i])
				}
				continue
			}
			return nil, fmt.Errorf("removing mountpoint %s: %w", stubs[i], err)
		}
		if err := sandbox.RestoreTimes(filepath.Dir(p), parent); err != nil {
			return nil, err
		}
	}
	return keep, nil
}

// sandboxReady reports whether RUN steps can run here.
func (b *builder) sandboxReady() error {
	if err := sandbox.Available(); err != nil {
		return fmt.Errorf("RUN needs a sandbox: %w", err)
	}
	return nil
}
