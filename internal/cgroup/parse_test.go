package cgroup

import (
	"errors"
	"math"
	"testing"
)

func TestParseCPUs(t *testing.T) {
	tests := []struct {
		in        string
		want      float64
		wantQuota int64
		wantErr   bool
	}{
		{"1.5", 1.5, 150000, false},
		{"1", 1, 100000, false},
		{"0.25", 0.25, 25000, false},
		{"0.01", 0.01, 1000, false},
		{"0", 0, 0, false},
		{"0.001", 0, 0, true},
		{"-1", 0, 0, true},
		{"", 0, 0, true},
		{"1,5", 0, 0, true},
		{"NaN", 0, 0, true},
		{"Inf", 0, 0, true},
		{"1e3", 0, 0, true},
		{"99999999999", 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseCPUs(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ParseCPUs(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
			if q, p := (Limits{CPUs: got}).CPUQuota(); q != tt.wantQuota || p != CPUPeriod {
				t.Errorf("quota %d/%d, want %d/%d", q, p, tt.wantQuota, CPUPeriod)
			}
		})
	}
}

func TestLimitsValidate(t *testing.T) {
	tests := []struct {
		name string
		l    Limits
		ok   bool
	}{
		{"zero", Limits{}, true},
		{"all", Limits{Memory: 64 << 20, CPUs: 2, Pids: 100}, true},
		{"unlimited pids", Limits{Pids: -1}, true},
		{"tiny memory", Limits{Memory: 1 << 20}, false},
		{"negative memory", Limits{Memory: -5}, false},
		{"NaN cpus", Limits{CPUs: math.NaN()}, false},
		{"negative cpus", Limits{CPUs: -0.5}, false},
		{"huge cpus", Limits{CPUs: 1e12}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.l.Validate()
			if (err == nil) != tt.ok || err != nil && !errors.Is(err, ErrInvalidLimits) {
				t.Errorf("Validate(%+v) = %v, want ok=%v", tt.l, err, tt.ok)
			}
		})
	}
}

func TestParseMembership(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		unified string
		legacy  map[string]string
		wantErr bool
	}{
		{name: "v2", in: "0::/user.slice/session-1.scope\n", unified: "/user.slice/session-1.scope", legacy: map[string]string{}},
		{name: "hybrid", in: "4:memory:/a/b\n2:cpu,cpuacct:/\n1:name=systemd:/s\n0::/s\n", unified: "/s",
			legacy: map[string]string{"memory": "/a/b", "cpu": "/", "cpuacct": "/", "name=systemd": "/s"}},
		{name: "climbs out", in: "0::/../../etc\n", wantErr: true},
		{name: "relative", in: "4:memory:a\n", wantErr: true},
		{name: "unclean", in: "4:memory:/a//b\n", wantErr: true},
		{name: "deleted suffix", in: "0::/a (deleted)\n", unified: "/a (deleted)", legacy: map[string]string{}},
		{name: "no path", in: "4:memory\n", wantErr: true},
		{name: "bad id", in: "x:memory:/\n", wantErr: true},
		{name: "NUL", in: "0::/a\x00b\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := parseMembership(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseMembership: %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if m.unified != tt.unified || len(m.legacy) != len(tt.legacy) {
				t.Fatalf("got %+v, want unified %q legacy %v", m, tt.unified, tt.legacy)
			}
			for k, v := range tt.legacy {
				if m.legacy[k] != v {
					t.Errorf("controller %s at %q, want %q", k, m.legacy[k], v)
				}
			}
		})
	}
}
