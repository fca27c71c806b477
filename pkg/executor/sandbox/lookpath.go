package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// lookPath resolves the command name the way a shell would, in the PATH of
// the step's environment, inside the already-entered root.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, dir := range filepath.SplitList(envPath(env)) {
		if !filepath.IsAbs(dir) {
			continue // relative PATH entries would depend on Cwd: ignored, as Go's exec does by default
		}
		p := filepath.Join(dir, name)
		if isExecutable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("executable file %q not found in $PATH", name)
}

// envPath returns the last PATH in env (the one a later assignment leaves in
// effect), or Docker's default.
func envPath(env []string) string {
	path, found := "", false
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path, found = v, true
		}
	}
	if !found {
		return defaultPath
	}
	return path
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
