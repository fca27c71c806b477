package cgroup

import (
	"fmt"
	"path"
	"strings"
)

// membership is a process's place in the hierarchies, from /proc/PID/cgroup.
type membership struct {
	// unified is the path in the v2 hierarchy ("0::/path"), "" if the line
	// is missing.
	unified string
	// legacy maps each v1 controller to the path of the process's cgroup
	// in the hierarchy that controller is bound to.
	legacy map[string]string
}

// parseMembership parses the content of /proc/PID/cgroup. Paths must be
// absolute and clean: they are joined to the cgroupfs mount, and a path that
// climbs out of it must never be followed.
func parseMembership(data string) (membership, error) {
	m := membership{legacy: map[string]string{}}
	for i, line := range strings.Split(data, "\n") {
		if line == "" {
			continue
		}
		id, rest, ok1 := strings.Cut(line, ":")
		ctrls, p, ok2 := strings.Cut(rest, ":")
		if !ok1 || !ok2 || id == "" || strings.Trim(id, "0123456789") != "" {
			return membership{}, fmt.Errorf("parsing cgroup membership line %d %q: want ID:CONTROLLERS:PATH", i+1, line)
		}
		if !path.IsAbs(p) || path.Clean(p) != p || strings.ContainsRune(p, 0) {
			return membership{}, fmt.Errorf("parsing cgroup membership line %d: path %q is not absolute and clean", i+1, p)
		}
		if id == "0" && ctrls == "" {
			m.unified = p
			continue
		}
		for _, c := range strings.Split(ctrls, ",") {
			if c != "" {
				m.legacy[c] = p
			}
		}
	}
	return m, nil
}
