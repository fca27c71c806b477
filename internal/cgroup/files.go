package cgroup

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// writeValue writes one value to a cgroup control file. Control files are
// kernel interfaces, written in place with one write call each (the kernel
// parses every write as a whole); there is nothing to replace atomically.
// O_CREATE only matters for a directory standing in for cgroupfs: the real
// files exist as soon as their directory does.
func writeValue(path, value string) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("writing %q to %s: %w", value, path, err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("writing %q to %s: %w", value, path, cerr)
		}
	}()
	if _, err := f.WriteString(value); err != nil {
		return fmt.Errorf("writing %q to %s: %w", value, path, err)
	}
	return nil
}

// readKeyed reads a flat-keyed file ("key value" lines, as memory.events
// and memory.oom_control) and returns the value of key; found is false when
// the file has no such line.
func readKeyed(path, key string) (v int64, found bool, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, false, fmt.Errorf("reading %s: %w", path, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, val, ok := strings.Cut(line, " ")
		if !ok || k != key {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("reading %s: %s: %w", path, key, err)
		}
		return n, true, nil
	}
	return 0, false, nil
}

// readInt reads a file holding one integer.
func readInt(path string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", path, err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", path, err)
	}
	return n, nil
}

// readPids reads a cgroup.procs file.
func readPids(path string) ([]int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		pid, err := strconv.Atoi(f)
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("reading %s: bad PID %q", path, f)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// readControllers reads a cgroup.controllers or cgroup.subtree_control
// file as a set.
func readControllers(path string) (map[string]bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	set := map[string]bool{}
	for _, c := range strings.Fields(string(data)) {
		set[strings.TrimPrefix(c, "+")] = true
	}
	return set, nil
}

// exists reports whether path exists; other stat errors count as absence,
// since every caller then falls back to doing without the file.
func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
