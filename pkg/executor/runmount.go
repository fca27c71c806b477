package executor

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/ocibuilder/builder/internal/cache"
	"github.com/ocibuilder/builder/internal/cachemount"
	"github.com/ocibuilder/builder/internal/source"
	"github.com/ocibuilder/builder/internal/sshforward"
	"github.com/ocibuilder/builder/pkg/executor/sandbox"
	"github.com/ocibuilder/builder/pkg/parser"
)

// stepMounts is what a RUN step's --mount flags add to its sandbox.
type stepMounts struct {
	secrets []sandbox.SecretFile
	// env holds KEY=value pairs of secrets exposed as variables.
	env []string
	// fs are the bind, cache and tmpfs mounts, prepared only when the
	// step runs (prepareMounts).
	fs []*fsMount
	// ssh are the agent sockets, served only while the step runs.
	ssh []sshMount
}

// sshMount is a RUN --mount=type=ssh: an agent served at target.
type sshMount struct {
	agent    *sshforward.Agent
	target   string
	uid, gid int
	mode     os.FileMode
}

// fsMount is a bind, cache or tmpfs mount of a RUN step, checked and with
// its source located, but nothing made for it yet.
type fsMount struct {
	m      *instructions.Mount
	target string
	// src is where a bind (or a cache's from=) reads: the build
	// context, a stage, an image or a named context, with the source
	// path as its one local source.
	src *copyPlan
	// identity names what src holds, for the step key and to tell
	// caches started from different sources apart.
	identity string
	sharing  cachemount.Sharing
}

// runMounts resolves a RUN step's --mount flags. Every mount's target
// goes through mountTarget first, so each type sees an absolute path.
func (b *builder) runMounts(step *parser.Step, mounts []*instructions.Mount, workdir string, log io.Writer) (stepMounts, error) {
	var out stepMounts
	for i, m := range mounts {
		target := mountTarget(m.Target, workdir)
		switch m.Type {
		case instructions.MountTypeSecret:
			if err := out.addSecret(m, target, b.opts.Secrets); err != nil {
				return out, err
			}
			continue
		case instructions.MountTypeSSH:
			if err := out.addSSH(m, target, b.ssh); err != nil {
				return out, err
			}
			continue
		case instructions.MountTypeBind, instructions.MountTypeCache, instructions.MountTypeTmpfs:
		default:
			return out, &MountNotSupportedError{Type: string(m.Type)}
		}
		fm, err := b.fsMount(step, i, m, target, log)
		if err != nil {
			return out, err
		}
		out.fs = append(out.fs, fm)
	}
	return out, nil
}

// fsMount checks a bind, cache or tmpfs mount and locates its source.
func (b *builder) fsMount(step *parser.Step, i int, m *instructions.Mount, target string, log io.Writer) (*fsMount, error) {
	what := "RUN --mount=type=" + string(m.Type)
	if target == "" || target == "/" {
		return nil, fmt.Errorf("%s: target %q must be a path below the root", what, m.Target)
	}
	fm := &fsMount{m: m, target: target}
	if m.Type == instructions.MountTypeCache {
		var err error
		if fm.sharing, err = cachemount.ParseSharing(string(m.CacheSharing)); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if m.Mode != nil && *m.Mode > 0o7777 {
			return nil, fmt.Errorf("%s: mode %o is not a file mode", what, *m.Mode)
		}
	}
	if m.Type == instructions.MountTypeTmpfs || (m.Type == instructions.MountTypeCache && m.From == "") {
		return fm, nil
	}
	// Relative to the source's root, as COPY names its sources.
	src := strings.TrimPrefix(path.Clean("/"+m.Source), "/")
	if src == "" {
		src = "."
	}
	var stage *parser.Stage
	if i < len(step.MountStages) {
		stage = step.MountStages[i]
	}
	fm.src = b.newCopyPlan(step, copyRequest{srcs: []string{src}, from: m.From, opName: what}, log)
	fm.src.local = []string{src}
	fm.src.from = b.copyFrom(stage, "", m.From)
	return fm, nil
}

// keyInput adds to in what the step's mounts read: for each bind (and
// cache started from a source), the identity of its source and, for
// context sources, the files it shows with their content, as COPY keys
// them. A cache's own contents are never part of the key.
func (ms *stepMounts) keyInput(ctx context.Context, in *cache.Input) error {
	for _, fm := range ms.fs {
		if fm.src == nil {
			continue
		}
		sub, _, err := fm.src.fromInput(ctx, cache.Input{})
		if err != nil {
			return err
		}
		fm.identity = strings.Join(append(append(sub.Sources, sub.Args...), "files="+sub.Files.String()), " ")
		in.Sources = append(in.Sources, string(fm.m.Type)+" "+fm.target+" "+fm.identity)
	}
	return nil
}

// mountSrc is a mount's source, located: the filesystem it is in, the
// path there (symlinks followed inside it only), and for a stage or an
// image the stage whose layers the filesystem stacks.
type mountSrc struct {
	fsys      source.FS
	keepOwner bool
	path      string
	stage     *stageState // nil for a context
}

// locate finds a mount's source, once per step execution.
func (p *copyPlan) locate(ctx context.Context) (mountSrc, error) {
	var ms mountSrc
	var err error
	switch p.from.kind {
	case fromStage, fromImage:
		if ms.stage, err = p.stage(ctx); err != nil {
			return ms, err
		}
		if ms.fsys, err = p.b.stack(ctx, ms.stage); err != nil {
			return ms, err
		}
		ms.keepOwner = true
	default:
		if ms.fsys, ms.keepOwner, err = p.source(ctx); err != nil {
			return ms, err
		}
		if ms.fsys == nil {
			return ms, fmt.Errorf("%s: the build has no context", p.op)
		}
	}
	matches, err := p.resolveLocal(ms.fsys)
	if err != nil {
		return ms, err
	}
	if len(matches) != 1 || len(matches[0]) != 1 {
		return ms, fmt.Errorf("%s: source %s matches no single entry", p.op, p.local[0])
	}
	ms.path = matches[0][0].path
	return ms, nil
}

// close releases what locating the sources opened.
func (ms *stepMounts) close() {
	for _, fm := range ms.fs {
		if fm.src != nil {
			fm.src.close()
		}
	}
}

// mountTarget makes a mount's target absolute: BuildKit joins a relative
// target to the step's working directory. An empty target stays empty
// (each mount type has its own default).
func mountTarget(target, workdir string) string {
	if target == "" {
		return ""
	}
	if path.IsAbs(target) {
		return path.Clean(target)
	}
	return path.Join("/", workdir, target)
}

// addSecret adds a secret mount, as BuildKit resolves it: the secret's id
// is id= or src= or the target's base name; without env= it is a file at
// target (default /run/secrets/<id>); with env= it is that variable, and
// a file too only when a target is given. A missing optional secret is
// left out (its variable is set empty, as BuildKit sets it). target is
// the mount's resolved target.
func (out *stepMounts) addSecret(m *instructions.Mount, target string, secrets map[string][]byte) error {
	id := m.CacheID
	if m.Source != "" {
		id = m.Source
	}
	if id == "" {
		if m.Target == "" {
			return fmt.Errorf("RUN --mount=type=secret: one of id, source or target is required")
		}
		id = path.Base(m.Target)
	}
	data, ok := secrets[id]
	if !ok && m.Required {
		return &SecretMissingError{ID: id}
	}
	if m.Env != nil {
		name := *m.Env
		if name == "" || strings.ContainsAny(name, "=\x00") {
			return fmt.Errorf("RUN --mount=type=secret,id=%s: env=%q is not a variable name", id, name)
		}
		out.env = append(out.env, name+"="+string(data))
	} else if target == "" {
		target = "/run/secrets/" + path.Base(id)
	}
	if !ok || target == "" {
		return nil
	}
	mode, uid, gid, err := fileOwner(m, id, target, 0o400)
	if err != nil {
		return err
	}
	out.secrets = append(out.secrets, sandbox.SecretFile{Path: target, Data: data, Mode: mode, UID: uid, GID: gid})
	return nil
}

// fileOwner reads the mode, uid and gid of a secret or ssh mount, whose
// file the builder makes (default mode def, owner root), and refuses the
// root as its target.
func fileOwner(m *instructions.Mount, id, target string, def os.FileMode) (mode os.FileMode, uid, gid uint32, err error) {
	what := "RUN --mount=type=" + string(m.Type) + ",id=" + id
	if target == "/" {
		return 0, 0, 0, fmt.Errorf("%s: target %q is the root", what, m.Target)
	}
	mode = def
	if m.Mode != nil {
		if *m.Mode > 0o777 {
			return 0, 0, 0, fmt.Errorf("%s: mode %o has more than permission bits", what, *m.Mode)
		}
		mode = os.FileMode(*m.Mode)
	}
	if m.UID != nil {
		uid = uint32(*m.UID)
	}
	if m.GID != nil {
		gid = uint32(*m.GID)
	}
	return mode, uid, gid, nil
}

// addSSH adds an ssh mount, as BuildKit resolves it: id defaults to
// "default", target to /run/buildkit/ssh_agent.N (N counting the step's
// ssh mounts), the socket is 0600 and owned by root unless mode, uid and
// gid say otherwise, and SSH_AUTH_SOCK names the first. An id the build
// was not given is left out unless the mount is required.
func (out *stepMounts) addSSH(m *instructions.Mount, target string, agents map[string]*sshforward.Agent) error {
	id := m.CacheID
	if id == "" {
		id = "default"
	}
	a, ok := agents[id]
	if !ok {
		if m.Required {
			return fmt.Errorf("RUN --mount=type=ssh,id=%s: no SSH agent of that id was given (--ssh %s=SOCKET|KEYFILE)", id, id)
		}
		return nil
	}
	if target == "" {
		target = fmt.Sprintf("/run/buildkit/ssh_agent.%d", len(out.ssh))
	}
	mode, uid, gid, err := fileOwner(m, id, target, 0o600)
	if err != nil {
		return err
	}
	sm := sshMount{agent: a, target: target, mode: mode, uid: int(uid), gid: int(gid)}
	if len(out.ssh) == 0 {
		out.env = append(out.env, "SSH_AUTH_SOCK="+target)
	}
	out.ssh = append(out.ssh, sm)
	return nil
}

// sshAgents opens the agents of Options.SSH.
func sshAgents(ids map[string][]string) (map[string]*sshforward.Agent, error) {
	out := make(map[string]*sshforward.Agent, len(ids))
	for id, paths := range ids {
		a, err := sshforward.New(id, paths)
		if err != nil {
			return nil, err
		}
		out[id] = a
	}
	return out, nil
}

// withEnv returns env with each KEY=value of extra set, replacing an
// earlier value of KEY.
func withEnv(env, extra []string) []string {
	if len(extra) == 0 {
		return env
	}
	out := make([]string, 0, len(env)+len(extra))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		replaced := false
		for _, e := range extra {
			if ek, _, _ := strings.Cut(e, "="); ek == k {
				replaced = true
				break
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}
