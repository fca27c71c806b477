package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// What the results depend on: the machine, its load and the tool versions.

// loadavg returns the 1, 5 and 15 minute load averages.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// describeMachine records what the results depend on.
func (h *harness) describeMachine(ctx context.Context) error {
	h.describeHost()
	return h.describeTools(ctx)
}

// addMachine adds a line to the machine's description.
func (h *harness) addMachine(k, v string) {
	h.machine = append(h.machine, fmt.Sprintf("- %s: %s", k, v))
}

// describeHost records the CPU, memory, kernel and the work directory's
// file system.
func (h *harness) describeHost() {
	add := h.addMachine
	cpu := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	add("CPU", cpu)
	add("cores (logical CPUs)", strconv.Itoa(runtime.NumCPU()))
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				add("memory", fmt.Sprintf("%.1f GiB", kb/(1<<20)))
			}
		}
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		add("kernel", unix.ByteSliceToString(u.Release[:]))
	}
	if mounts, err := readMounts(); err == nil {
		var best mount
		for _, m := range mounts {
			if (h.opt.work == m.point || strings.HasPrefix(h.opt.work, strings.TrimSuffix(m.point, "/")+"/")) && len(m.point) >= len(best.point) {
				best = m
			}
		}
		add("work dir filesystem", fmt.Sprintf("%s (%s mounted at %s); work dir %s", best.fstype, best.source, best.point, h.opt.work))
	}
}

// describeTools records the versions of the tools and of Go, and
// buildah's storage.
func (h *harness) describeTools(ctx context.Context) error {
	add := h.addMachine
	if v, err := output(ctx, h.opt.builder, "version"); err == nil {
		desc := strings.TrimSpace(v)
		if c, err := output(ctx, "git", "-C", filepath.Dir(filepath.Dir(h.opt.builder)), "rev-parse", "--short", "HEAD"); err == nil {
			desc += ", source at commit " + strings.TrimSpace(c)
		}
		add("builder", desc)
	}
	if h.opt.baseline != "" {
		if v, err := output(ctx, h.opt.baseline, "version"); err == nil {
			add("baseline", strings.TrimSpace(v)+" ("+h.opt.baseline+")")
		}
		add("Go", runtime.Version())
		return nil
	}
	if v, err := output(ctx, h.buildah.Bin, "version"); err == nil {
		for line := range strings.Lines(v) {
			if k, val, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "Version" {
				add("buildah", strings.TrimSpace(val)+" ("+h.debVersion(ctx, "buildah")+")")
			}
		}
	}
	if err := h.buildah.reset(ctx); err != nil {
		return err
	}
	if info, err := output(ctx, h.buildah.Bin, h.buildah.Args("info")...); err == nil {
		var bi struct {
			Store struct {
				GraphDriverName string            `json:"GraphDriverName"`
				GraphStatus     map[string]string `json:"GraphStatus"`
			} `json:"store"`
		}
		if json.Unmarshal([]byte(info), &bi) == nil {
			add("buildah storage", fmt.Sprintf("%s (native overlay diff: %s, backing file system: %s)",
				bi.Store.GraphDriverName, bi.Store.GraphStatus["Native Overlay Diff"], bi.Store.GraphStatus["Backing Filesystem"]))
		}
	} else {
		return fmt.Errorf("buildah with storage driver %s: %w", h.buildah.Driver, err)
	}
	if v, err := output(ctx, "skopeo", "--version"); err == nil {
		add("skopeo", strings.TrimSpace(v))
	}
	add("Go", runtime.Version())
	return nil
}

// debVersion describes the Debian package pkg's version.
func (h *harness) debVersion(ctx context.Context, pkg string) string {
	v, err := output(ctx, "dpkg-query", "-W", "-f", "${Version}", pkg)
	if err != nil || v == "" {
		return "not a Debian package"
	}
	return "Debian package " + v
}
