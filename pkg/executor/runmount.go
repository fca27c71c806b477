package executor

import (
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/ocibuilder/builder/pkg/executor/sandbox"
)

// stepMounts is what a RUN step's --mount flags add to its sandbox.
type stepMounts struct {
	secrets []sandbox.SecretFile
	// env holds KEY=value pairs of secrets exposed as variables.
	env []string
}

// runMounts resolves a RUN step's --mount flags. Every mount's target
// goes through mountTarget first, so each type sees an absolute path.
func runMounts(mounts []*instructions.Mount, workdir string, secrets map[string][]byte) (stepMounts, error) {
	var out stepMounts
	for _, m := range mounts {
		target := mountTarget(m.Target, workdir)
		switch m.Type {
		case instructions.MountTypeSecret:
			if err := out.addSecret(m, target, secrets); err != nil {
				return out, err
			}
		default:
			return out, &MountNotSupportedError{Type: string(m.Type)}
		}
	}
	return out, nil
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
	if target == "/" {
		return fmt.Errorf("RUN --mount=type=secret,id=%s: target %q is the root", id, m.Target)
	}
	f := sandbox.SecretFile{Path: target, Data: data, Mode: 0o400}
	if m.Mode != nil {
		if *m.Mode > 0o777 {
			return fmt.Errorf("RUN --mount=type=secret,id=%s: mode %o has more than permission bits", id, *m.Mode)
		}
		f.Mode = os.FileMode(*m.Mode)
	}
	if m.UID != nil {
		f.UID = uint32(*m.UID)
	}
	if m.GID != nil {
		f.GID = uint32(*m.GID)
	}
	out.secrets = append(out.secrets, f)
	return nil
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
