package executor

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/ocibuilder/builder/internal/cache"
	"github.com/ocibuilder/builder/pkg/parser"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// dispatch applies one step to the stage.
func (b *builder) dispatch(ctx context.Context, ss *stageState, step *parser.Step, sr *stepRun) error {
	// ARG is expanded per argument, in order: each default sees the ones
	// declared before it.
	if arg, ok := step.Cmd.(*instructions.ArgCommand); ok {
		return b.declareArgs(ss, arg)
	}
	cmd, err := step.Expand(stageEnv{ss})
	if err != nil {
		return err
	}
	emptyLayer := true
	switch c := cmd.(type) {
	case *instructions.EnvCommand:
		for _, kv := range c.Env {
			ss.setEnv(kv.Key, kv.Value)
		}
	case *instructions.LabelCommand:
		if ss.cfg.Config.Labels == nil {
			ss.cfg.Config.Labels = map[string]string{}
		}
		for _, kv := range c.Labels {
			ss.cfg.Config.Labels[kv.Key] = kv.Value
		}
	case *instructions.MaintainerCommand:
		ss.cfg.Author = c.Maintainer
	case *instructions.ExposeCommand:
		if ss.cfg.Config.ExposedPorts == nil {
			ss.cfg.Config.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range c.Ports {
			ports, err := parsePorts(p)
			if err != nil {
				return err
			}
			for _, port := range ports {
				ss.cfg.Config.ExposedPorts[port] = struct{}{}
			}
		}
	case *instructions.VolumeCommand:
		if ss.cfg.Config.Volumes == nil {
			ss.cfg.Config.Volumes = map[string]struct{}{}
		}
		for _, v := range c.Volumes {
			if v == "" {
				return errors.New("VOLUME specified can not be an empty string")
			}
			ss.cfg.Config.Volumes[v] = struct{}{}
		}
	case *instructions.UserCommand:
		ss.cfg.Config.User = c.User
	case *instructions.WorkdirCommand:
		changed, err := b.workdir(ctx, ss, step, c.Path, sr)
		if err != nil {
			return err
		}
		emptyLayer = !changed
	case *instructions.StopSignalCommand:
		if err := validSignal(c.Signal); err != nil {
			return err
		}
		ss.cfg.Config.StopSignal = c.Signal
	case *instructions.HealthCheckCommand:
		h := *c.Health
		ss.cfg.Config.Healthcheck = &h
	case *instructions.ShellCommand:
		ss.cfg.Config.Shell = append([]string(nil), c.Shell...)
	case *instructions.OnbuildCommand:
		ss.cfg.Config.OnBuild = append(ss.cfg.Config.OnBuild, c.Expression)
	case *instructions.CmdCommand:
		ss.cfg.Config.Cmd = commandLine(ss, c.ShellDependantCmdLine)
		ss.cmdSet = true
	case *instructions.EntrypointCommand:
		ss.cfg.Config.Entrypoint = commandLine(ss, c.ShellDependantCmdLine)
		if !ss.cmdSet {
			// Docker: an ENTRYPOINT resets a CMD inherited from the base.
			ss.cfg.Config.Cmd = nil
		}
	case *instructions.CopyCommand:
		changed, err := b.copyStep(ctx, ss, step, copyRequest{
			srcs: c.SourcePaths, contents: c.SourceContents, dest: c.DestPath,
			from: c.From, chown: c.Chown, chmod: c.Chmod, exclude: c.ExcludePatterns, parents: c.Parents,
		}, sr)
		if err != nil {
			return err
		}
		emptyLayer = !changed
	case *instructions.AddCommand:
		unpack := c.Unpack == nil || *c.Unpack
		changed, err := b.copyStep(ctx, ss, step, copyRequest{
			srcs: c.SourcePaths, contents: c.SourceContents, dest: c.DestPath,
			chown: c.Chown, chmod: c.Chmod, exclude: c.ExcludePatterns,
			add: true, unpack: unpack, checksum: c.Checksum,
		}, sr)
		if err != nil {
			return err
		}
		emptyLayer = !changed
	case *instructions.RunCommand:
		changed, err := b.runStep(ctx, ss, step, c, sr)
		if err != nil {
			return err
		}
		emptyLayer = !changed
	default:
		return fmt.Errorf("unsupported instruction %s", cmd.Name())
	}
	ss.cfg.History = append(ss.cfg.History, ocispec.History{
		Created:    ptrTime(b.created()),
		CreatedBy:  historyText(step),
		EmptyLayer: emptyLayer,
	})
	ss.cfg.Created = ptrTime(b.created())
	return nil
}

// declareArgs handles ARG: a build arg overrides the default; without
// either, a global ARG or predefined platform arg of the same name is used,
// else the value the ARG already has in the stage or its base stage.
func (b *builder) declareArgs(ss *stageState, c *instructions.ArgCommand) error {
	lex := shell.NewLex(b.graph.Escape)
	for _, kv := range c.Args {
		a := stageArg{name: kv.Key}
		if v, ok := b.graph.BuildArg(kv.Key); ok {
			a.value, a.set = v, true
		} else if kv.Value != nil {
			v, err := parser.ExpandWord(lex, *kv.Value, stageEnv{ss})
			if err != nil {
				return fmt.Errorf("ARG %s: %w", kv.Key, err)
			}
			a.value, a.set = v, true
		} else if v, ok := b.graph.StageArg(kv.Key); ok {
			a.value, a.set = v, true
		}
		replaced := false
		for i := range ss.args {
			if ss.args[i].name == a.name {
				// Declared again without a value, an ARG keeps the
				// one it has (from this stage or its base stage).
				if a.set {
					ss.args[i] = a
				}
				replaced = true
			}
		}
		if !replaced {
			ss.args = append(ss.args, a)
		}
	}
	return nil
}

// commandLine renders CMD/ENTRYPOINT: exec form as is, shell form through
// the stage's SHELL.
func commandLine(ss *stageState, c instructions.ShellDependantCmdLine) []string {
	if !c.PrependShell {
		return append([]string{}, c.CmdLine...)
	}
	sh := ss.cfg.Config.Shell
	if len(sh) == 0 {
		sh = []string{"/bin/sh", "-c"}
	}
	return append(append([]string{}, sh...), strings.Join(c.CmdLine, " "))
}

// historyText is the created_by of a step's history entry: the
// instruction on one line, continuations joined.
func historyText(step *parser.Step) string {
	return strings.Join(strings.Fields(step.Text), " ")
}

// workdir sets WORKDIR (relative to the previous one) and creates the
// directory, owned by the stage's USER, when the image lacks it.
func (b *builder) workdir(ctx context.Context, ss *stageState, step *parser.Step, p string, sr *stepRun) (bool, error) {
	if !path.IsAbs(p) {
		prev := ss.cfg.Config.WorkingDir
		if prev == "" {
			prev = "/"
		}
		p = path.Join(prev, p)
	}
	p = path.Clean(p)
	ss.cfg.Config.WorkingDir = p
	in := cache.Input{Op: "WORKDIR", Args: []string{p}, User: ss.cfg.Config.User}
	return b.layerStep(ss, step, sr, in, nil, func() (bool, error) { return b.mkdirStep(ctx, ss, p) })
}

// parsePorts expands an EXPOSE word ("80", "53/udp", "8000-8002/tcp") into
// docker's "port/proto" keys.
func parsePorts(s string) ([]string, error) {
	portPart, proto, hasProto := strings.Cut(s, "/")
	if !hasProto {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	switch proto {
	case "tcp", "udp", "sctp":
	default:
		return nil, fmt.Errorf("EXPOSE %s: invalid protocol %q", s, proto)
	}
	lo, hi, isRange := strings.Cut(portPart, "-")
	start, err := strconv.ParseUint(lo, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("EXPOSE %s: invalid port %q", s, lo)
	}
	end := start
	if isRange {
		if end, err = strconv.ParseUint(hi, 10, 16); err != nil || end < start {
			return nil, fmt.Errorf("EXPOSE %s: invalid port range", s)
		}
	}
	var out []string
	for p := start; p <= end; p++ {
		out = append(out, fmt.Sprintf("%d/%s", p, proto))
	}
	return out, nil
}

// validSignal accepts what docker accepts for STOPSIGNAL: a number, or a
// signal name with or without the SIG prefix.
func validSignal(s string) error {
	if s == "" {
		return errors.New("STOPSIGNAL: empty signal")
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return fmt.Errorf("STOPSIGNAL %s: invalid signal number", s)
		}
		return nil
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if strings.HasPrefix(name, "RTMIN") || strings.HasPrefix(name, "RTMAX") {
		return nil
	}
	switch name {
	case "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL",
		"PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP",
		"TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ":
		return nil
	}
	return fmt.Errorf("STOPSIGNAL %s: unknown signal", s)
}

func ptrTime(t time.Time) *time.Time { return &t }
