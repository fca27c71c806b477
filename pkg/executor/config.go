package executor

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// dispatchEnv sets ENV variables, replacing earlier values in place.
func dispatchEnv(ss *stageState, c *instructions.EnvCommand) {
	for _, kv := range c.Env {
		ss.setEnv(kv.Key, kv.Value)
	}
}

// dispatchLabel adds LABELs, a later value replacing an earlier one.
func dispatchLabel(ss *stageState, c *instructions.LabelCommand) {
	if ss.cfg.Config.Labels == nil {
		ss.cfg.Config.Labels = map[string]string{}
	}
	for _, kv := range c.Labels {
		ss.cfg.Config.Labels[kv.Key] = kv.Value
	}
}

// dispatchExpose adds EXPOSEd ports, ranges expanded.
func dispatchExpose(ss *stageState, c *instructions.ExposeCommand) error {
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
	return nil
}

// dispatchVolume adds VOLUME paths.
func dispatchVolume(ss *stageState, c *instructions.VolumeCommand) error {
	if ss.cfg.Config.Volumes == nil {
		ss.cfg.Config.Volumes = map[string]struct{}{}
	}
	for _, v := range c.Volumes {
		if v == "" {
			return errors.New("VOLUME specified can not be an empty string")
		}
		ss.cfg.Config.Volumes[v] = struct{}{}
	}
	return nil
}

// dispatchStopSignal sets STOPSIGNAL after checking it names a signal.
func dispatchStopSignal(ss *stageState, c *instructions.StopSignalCommand) error {
	if err := validSignal(c.Signal); err != nil {
		return err
	}
	ss.cfg.Config.StopSignal = c.Signal
	return nil
}

// dispatchHealthcheck sets HEALTHCHECK (NONE included, as docker keeps it).
func dispatchHealthcheck(ss *stageState, c *instructions.HealthCheckCommand) {
	h := *c.Health
	ss.cfg.Config.Healthcheck = &h
}

// dispatchCmd sets CMD and remembers that this stage set it.
func dispatchCmd(ss *stageState, c *instructions.CmdCommand) {
	ss.cfg.Config.Cmd = commandLine(ss, c.ShellDependantCmdLine)
	ss.cmdSet = true
}

// dispatchEntrypoint sets ENTRYPOINT.
func dispatchEntrypoint(ss *stageState, c *instructions.EntrypointCommand) {
	ss.cfg.Config.Entrypoint = commandLine(ss, c.ShellDependantCmdLine)
	if !ss.cmdSet {
		// Docker: an ENTRYPOINT resets a CMD inherited from the base.
		ss.cfg.Config.Cmd = nil
	}
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
