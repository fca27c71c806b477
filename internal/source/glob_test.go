package source

import "testing"

func TestGlobDir(t *testing.T) {
	for pattern, want := range map[string]string{
		"*.txt":          "",
		"/*.txt":         "",
		"dir/*.go":       "dir",
		"./a/b/c?/d/*":   "a/b",
		"a/[bc]/d":       "a",
		"no/meta/at/all": "no/meta/at/all",
	} {
		if got := GlobDir(pattern); got != want {
			t.Errorf("GlobDir(%q) = %q, want %q", pattern, got, want)
		}
	}
}
