package main

import (
	"fmt"
	"strings"
)

// parseSSH reads the --ssh flags as buildx does: "default" or "ID" alone
// forward the agent of $SSH_AUTH_SOCK, "ID=SOCKET" another agent, and
// "ID=KEY[,KEY…]" private key files served by the builder.
func parseSSH(vals []string, lookupEnv func(string) (string, bool)) (map[string][]string, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	out := make(map[string][]string, len(vals))
	for _, v := range vals {
		id, rest, hasPaths := strings.Cut(v, "=")
		if id == "" || strings.ContainsAny(id, ", ") {
			return nil, fmt.Errorf("--ssh %q: want ID, ID=SOCKET or ID=KEYFILE[,KEYFILE…]", v)
		}
		if _, dup := out[id]; dup {
			return nil, fmt.Errorf("--ssh %q: id %s given twice", v, id)
		}
		if !hasPaths {
			sock, ok := lookupEnv("SSH_AUTH_SOCK")
			if !ok || sock == "" {
				return nil, fmt.Errorf("--ssh %s: SSH_AUTH_SOCK is not set; give %s=SOCKET or %s=KEYFILE", id, id, id)
			}
			out[id] = []string{sock}
			continue
		}
		var paths []string
		for _, p := range strings.Split(rest, ",") {
			if p == "" {
				return nil, fmt.Errorf("--ssh %q: empty path", v)
			}
			paths = append(paths, p)
		}
		out[id] = paths
	}
	return out, nil
}
