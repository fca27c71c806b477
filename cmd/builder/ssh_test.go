package main

import (
	"reflect"
	"testing"
)

func TestParseSSH(t *testing.T) {
	env := func(k string) (string, bool) {
		if k == "SSH_AUTH_SOCK" {
			return "/run/agent.sock", true
		}
		return "", false
	}
	got, err := parseSSH([]string{"default", "git=/k1,/k2", "other=/s.sock"}, env)
	want := map[string][]string{"default": {"/run/agent.sock"}, "git": {"/k1", "/k2"}, "other": {"/s.sock"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("parseSSH = %v, %v; want %v", got, err, want)
	}
	noEnv := func(string) (string, bool) { return "", false }
	for _, vals := range [][]string{{"default"}, {"=x"}, {"a=/k,"}, {"a=/k", "a=/j"}, {"a b=/k"}} {
		if _, err := parseSSH(vals, noEnv); err == nil {
			t.Errorf("parseSSH(%q) succeeded", vals)
		}
	}
}
