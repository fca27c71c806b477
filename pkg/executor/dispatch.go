package executor

import (
	"context"
	"fmt"
	"path"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/ocibuilder/builder/internal/cache"
	"github.com/ocibuilder/builder/pkg/parser"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// dispatch applies one step to the stage and adds its history entry.
func (b *builder) dispatch(ctx context.Context, ss *stageState, step *parser.Step, sr *stepRun) error {
	cmd, err := b.expandChecked(ss, step, sr)
	if err != nil {
		return err
	}
	// ARG is expanded per argument, in order: each default sees the ones
	// declared before it.
	if arg, ok := step.Cmd.(*instructions.ArgCommand); ok {
		return b.declareArgs(ss, arg)
	}
	layered := false // the step added a layer
	switch c := cmd.(type) {
	case *instructions.EnvCommand:
		dispatchEnv(ss, c)
	case *instructions.LabelCommand:
		dispatchLabel(ss, c)
	case *instructions.MaintainerCommand:
		ss.cfg.Author = c.Maintainer
	case *instructions.ExposeCommand:
		err = dispatchExpose(ss, c)
	case *instructions.VolumeCommand:
		err = dispatchVolume(ss, c)
	case *instructions.UserCommand:
		ss.cfg.Config.User = c.User
	case *instructions.WorkdirCommand:
		layered, err = b.workdir(ctx, ss, step, c.Path, sr)
	case *instructions.StopSignalCommand:
		err = dispatchStopSignal(ss, c)
	case *instructions.HealthCheckCommand:
		dispatchHealthcheck(ss, c)
	case *instructions.ShellCommand:
		ss.cfg.Config.Shell = append([]string(nil), c.Shell...)
	case *instructions.OnbuildCommand:
		ss.cfg.Config.OnBuild = append(ss.cfg.Config.OnBuild, c.Expression)
	case *instructions.CmdCommand:
		dispatchCmd(ss, c)
	case *instructions.EntrypointCommand:
		dispatchEntrypoint(ss, c)
	case *instructions.CopyCommand:
		layered, err = b.copyStep(ctx, ss, step, copyCommand(c), sr)
	case *instructions.AddCommand:
		layered, err = b.copyStep(ctx, ss, step, addCommand(c), sr)
	case *instructions.RunCommand:
		layered, err = b.runStep(ctx, ss, step, c, sr)
	default:
		err = fmt.Errorf("unsupported instruction %s", cmd.Name())
	}
	if err != nil {
		return err
	}
	ss.cfg.History = append(ss.cfg.History, ocispec.History{
		Created:    ptrTime(b.created()),
		CreatedBy:  historyText(step),
		EmptyLayer: !layered,
	})
	ss.cfg.Created = ptrTime(b.created())
	return nil
}

// copyCommand is a COPY instruction as copyStep takes it.
func copyCommand(c *instructions.CopyCommand) copyRequest {
	return copyRequest{srcs: c.SourcePaths, contents: c.SourceContents, dest: c.DestPath,
		from: c.From, chown: c.Chown, chmod: c.Chmod, exclude: c.ExcludePatterns, parents: c.Parents, link: c.Link}
}

// addCommand is an ADD instruction as copyStep takes it.
func addCommand(c *instructions.AddCommand) copyRequest {
	return copyRequest{srcs: c.SourcePaths, contents: c.SourceContents, dest: c.DestPath,
		chown: c.Chown, chmod: c.Chmod, exclude: c.ExcludePatterns, link: c.Link,
		add: true, unpack: c.Unpack, checksum: c.Checksum, keepGitDir: c.KeepGitDir}
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
