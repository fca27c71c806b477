package cgroup

import (
	"path"
	"strings"
	"testing"
)

func FuzzParseCPUs(f *testing.F) {
	for _, s := range []string{"1.5", "0.01", "0", "NaN", "1e400", "00001.0000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCPUs(s)
		if err != nil {
			return
		}
		l := Limits{CPUs: c}
		if err := l.Validate(); err != nil {
			t.Fatalf("ParseCPUs(%q) = %v, which Validate refuses: %v", s, c, err)
		}
		if q, _ := l.CPUQuota(); c != 0 && q < 1000 {
			t.Fatalf("ParseCPUs(%q) = %v: quota %d below the kernel's minimum", s, c, q)
		}
	})
}

func FuzzParseMembership(f *testing.F) {
	for _, s := range []string{
		"0::/\n",
		"12:pids:/user.slice\n2:cpu,cpuacct:/a\n0::/a/b\n",
		"0::/../x\n",
		"1:name=systemd:/\n",
		"x::\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseMembership(s)
		if err != nil {
			return
		}
		paths := []string{}
		if m.unified != "" {
			paths = append(paths, m.unified)
		}
		for _, p := range m.legacy {
			paths = append(paths, p)
		}
		for _, p := range paths {
			// Joined to a mount, an accepted path must stay under it.
			if !path.IsAbs(p) || path.Clean(p) != p || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") {
				t.Fatalf("parseMembership(%q) accepted path %q", s, p)
			}
		}
	})
}
