package sandbox

import (
	"errors"
	"testing"
)

func TestCheckSecrets(t *testing.T) {
	for _, tc := range []struct {
		name    string
		secrets []SecretFile
		ok      bool
	}{
		{"valid", []SecretFile{{Path: "/run/secrets/a", Mode: 0o400}, {Path: "/b", Mode: 0o644}}, true},
		{"relative", []SecretFile{{Path: "run/a"}}, false},
		{"unclean", []SecretFile{{Path: "/run/../etc/a"}}, false},
		{"root", []SecretFile{{Path: "/"}}, false},
		{"nul", []SecretFile{{Path: "/a\x00b"}}, false},
		{"setuid", []SecretFile{{Path: "/a", Mode: 0o4755 | 1<<23}}, false},
		{"twice", []SecretFile{{Path: "/a"}, {Path: "/a"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkSecrets(tc.secrets)
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInvalidSpec)) {
				t.Errorf("checkSecrets = %v; want ok=%v", err, tc.ok)
			}
		})
	}
}
