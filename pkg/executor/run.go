package executor

import (
	"bytes"
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
	"github.com/ocibuilder/builder/internal/units"
	"github.com/ocibuilder/builder/pkg/executor/sandbox"
	"github.com/ocibuilder/builder/pkg/parser"
)

// NetworkMode is the network RUN steps get.
type NetworkMode string

const (
	// NetworkDefault is the host's network, as for docker build.
	NetworkDefault NetworkMode = ""
	// NetworkHost shares the host's network namespace.
	NetworkHost NetworkMode = "host"
	// NetworkNone gives each step a network namespace with only loopback.
	NetworkNone NetworkMode = "none"
)

// ParseNetworkMode parses a --network value.
func ParseNetworkMode(s string) (NetworkMode, error) {
	switch s {
	case "", "default", "host":
		return NetworkHost, nil
	case "none":
		return NetworkNone, nil
	}
	return "", fmt.Errorf("network mode %q: want host or none", s)
}

// Snapshotter names how RUN steps get a writable root filesystem.
type Snapshotter string

const (
	// SnapshotterAuto uses overlayfs where it can be mounted, else Copy.
	SnapshotterAuto Snapshotter = ""
	// SnapshotterOverlay mounts the stage's layers under a fresh upper
	// directory; the step's layer is the upper directory's difference.
	SnapshotterOverlay Snapshotter = "overlay"
	// SnapshotterCopy copies the stage's filesystem into a directory and
	// diffs it afterwards: slower, but needs no overlayfs. Both give the
	// same layer bytes.
	SnapshotterCopy Snapshotter = "copy"
)

// StepError is a RUN step whose command failed.
type StepError struct {
	Loc parser.Location
	// Cmd is the command line as run.
	Cmd []string
	// ExitCode is the command's exit status; -1 when a signal killed it.
	ExitCode int
	Signal   syscall.Signal
	// Tail holds the last lines of the command's output.
	Tail []string
	// OOMKilled is set when the kernel killed a process of the step
	// because the step reached MemoryLimit (bytes).
	OOMKilled   bool
	MemoryLimit int64
}

// Error names the Dockerfile line, the command, how it ended and what it
// printed last.
func (e *StepError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: process %q did not complete successfully: ", e.Loc, strings.Join(e.Cmd, " "))
	switch {
	case e.OOMKilled:
		fmt.Fprintf(&b, "killed: out of memory (limit %s)", units.FormatBytes(e.MemoryLimit))
	case e.Signal != 0:
		fmt.Fprintf(&b, "killed by signal %s", e.Signal)
	default:
		fmt.Fprintf(&b, "exit code %d", e.ExitCode)
	}
	if len(e.Tail) > 0 {
		b.WriteString("\nlast output:")
		for _, l := range e.Tail {
			b.WriteString("\n  " + l)
		}
	}
	return b.String()
}

// runStep executes a RUN instruction in a sandbox, through the step
// cache, and commits what it changed as a layer.
func (b *builder) runStep(ctx context.Context, ss *stageState, step *parser.Step, c *instructions.RunCommand, sr *stepRun) (bool, error) {
	if err := b.sandboxReady(); err != nil {
		return false, err
	}
	mounts, err := runMounts(instructions.GetMounts(c), ss.cfg.Config.WorkingDir, b.opts.Secrets)
	if err != nil {
		return false, err
	}
	if sec := instructions.GetSecurity(c); sec != "" && sec != "sandbox" {
		return false, fmt.Errorf("RUN --security=%s is not supported", sec)
	}
	network := b.opts.Network
	switch instructions.GetNetwork(c) {
	case "none":
		network = NetworkNone
	case "host":
		network = NetworkHost
	}
	args, devFiles, err := runArgs(ss, c)
	if err != nil {
		return false, err
	}
	in, err := runInput(ss, c, args, devFiles, network)
	if err != nil {
		return false, err
	}
	return b.layerStep(ss, step, sr, in, nil, func() (bool, error) {
		return b.execRun(ctx, ss, step, runSpec{args: args, devFiles: devFiles, mounts: mounts, network: network}, sr)
	})
}

// runSpec is a RUN step after expansion.
type runSpec struct {
	args     []string
	devFiles map[string][]byte
	mounts   stepMounts
	network  NetworkMode
}

// execRun runs a RUN step in the sandbox and commits its layer.
func (b *builder) execRun(ctx context.Context, ss *stageState, step *parser.Step, rs runSpec, log io.Writer) (bool, error) {
	args, devFiles, mounts, network := rs.args, rs.devFiles, rs.mounts, rs.network
	if len(ss.dirs) > maxLowerDirs {
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
	scratch, err := b.state.scratchDir("run-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(scratch)
	snapKind, err := b.snapshotter()
	if err != nil {
		return false, err
	}
	if b.snapWhy != nil && b.snapWarned.CompareAndSwap(false, true) {
		fmt.Fprintf(log, "overlayfs is not usable here (%v); RUN steps copy the filesystem instead, which is slower\n", b.snapWhy)
	}
	spec := sandbox.Spec{
		Args:       args,
		Env:        withEnv(runEnv(ss.env(), user.Home), mounts.env),
		Cwd:        ss.cfg.Config.WorkingDir,
		UID:        user.UID,
		GID:        user.GID,
		Groups:     user.Groups,
		Hosts:      []byte("127.0.0.1\tlocalhost " + sandbox.DefaultHostname + "\n::1\tlocalhost ip6-localhost ip6-loopback\n"),
		ResolvConf: b.resolvConf(),
		StateDir:   filepath.Join(scratch, "sandbox"),
		DevFiles:   devFiles,
		Secrets:    mounts.secrets,
	}
	if network == NetworkNone {
		spec.Network = sandbox.NetworkNone
	}
	if err := os.Mkdir(spec.StateDir, 0o700); err != nil {
		return false, err
	}
	root := filepath.Join(scratch, "upper")
	if snapKind == SnapshotterOverlay {
		lowers, err := b.lowerDirs(ctx, ss, scratch)
		if err != nil {
			return false, err
		}
		work := filepath.Join(scratch, "work")
		for _, d := range []string{root, work} {
			if err := os.Mkdir(d, 0o755); err != nil {
				return false, err
			}
		}
		spec.Rootfs.Overlay = &sandbox.Overlay{LowerDirs: lowers, UpperDir: root, WorkDir: work}
	} else {
		root = filepath.Join(scratch, "rootfs")
		if err := snapshot.Materialize(ctx, lower, root); err != nil {
			return false, fmt.Errorf("preparing the root filesystem: %w", err)
		}
		// Extracted layer directories are private (0700), and the copy
		// takes its root's mode from them; an overlay's root is its
		// fresh upper directory. Give the copy the same 0755 root, or
		// a step run as another user cannot even enter /.
		if err := os.Chmod(root, 0o755); err != nil {
			return false, fmt.Errorf("preparing the root filesystem: %w", err)
		}
		spec.Rootfs.Dir = root
	}

	tail := newTailWriter(log, 20)
	group, err := b.stepCgroup(log)
	if err != nil {
		return false, err
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
			return false, ctx.Err()
		}
		return false, fmt.Errorf("running %q: %w", strings.Join(args, " "), err)
	}
	if res.ExitCode != 0 {
		se := &StepError{Loc: step.Loc, Cmd: args, ExitCode: res.ExitCode, Signal: res.Signal, Tail: tail.lines()}
		if res.OOMKilled && group != nil {
			se.OOMKilled, se.MemoryLimit = true, group.Limits().Memory
		}
		return false, se
	}
	exclude, err := removeStubs(root, res.Stubs)
	if err != nil {
		return false, err
	}
	if snapKind == SnapshotterOverlay {
		// The upper directory leaves the step's scratch space, which
		// is removed on return, to become a lower directory of the
		// next steps while its layer is still being compressed.
		keep, err := b.state.scratchDir("layer-")
		if err != nil {
			return false, err
		}
		dir := filepath.Join(keep, "upper")
		if err := os.Rename(root, dir); err != nil {
			return false, fmt.Errorf("keeping the step's changes: %w", err)
		}
		return b.commitLayerAsync(ctx, ss, step.Loc, dir, snapshot.Changes(dir, lower, exclude...))
	}
	return b.commitLayer(ctx, ss, root, snapshot.DirChanges(root, lower, exclude...), false)
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

// resolvConf is the /etc/resolv.conf steps see: the host's, which works
// with the host network the steps share by default.
func (b *builder) resolvConf() []byte {
	data, err := os.ReadFile("/etc/resolv.conf")
	if err != nil || len(data) > 64<<10 {
		return []byte("nameserver 127.0.0.1\n")
	}
	return data
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

// tailWriter passes output on and keeps its last lines for error reports.
type tailWriter struct {
	w       io.Writer
	max     int
	partial []byte
	tail    []string
}

func newTailWriter(w io.Writer, max int) *tailWriter { return &tailWriter{w: w, max: max} }

func (t *tailWriter) Write(p []byte) (int, error) {
	if t.w != nil {
		t.w.Write(p)
	}
	t.partial = append(t.partial, p...)
	for {
		// bytes, not a string conversion: that would copy the rest
		// of the buffer once per line.
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			break
		}
		t.add(string(t.partial[:i]))
		t.partial = t.partial[i+1:]
	}
	if len(t.partial) > 4096 {
		t.add(string(t.partial))
		t.partial = nil
	}
	return len(p), nil
}

func (t *tailWriter) add(line string) {
	const maxLine = 512
	if len(line) > maxLine {
		line = line[:maxLine] + "…"
	}
	t.tail = append(t.tail, line)
	if len(t.tail) > t.max {
		t.tail = t.tail[len(t.tail)-t.max:]
	}
}

func (t *tailWriter) lines() []string {
	out := append([]string{}, t.tail...)
	if len(t.partial) > 0 {
		out = append(out, string(t.partial))
	}
	if len(out) > t.max {
		out = out[len(out)-t.max:]
	}
	return out
}

// sandboxReady reports whether RUN steps can run here.
func (b *builder) sandboxReady() error {
	if err := sandbox.Available(); err != nil {
		return fmt.Errorf("RUN needs a sandbox: %w", err)
	}
	return nil
}
