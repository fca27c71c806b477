package imageuser

import "testing"

// TestChownByName tells --chown values that need the image's passwd or
// group file from numeric ones.
func TestChownByName(t *testing.T) {
	for value, want := range map[string]bool{
		"1000": false, "1000:50": false, "": false, ":": false, ":50": false, "0:": false,
		"app": true, "root": true, "1000:staff": true, "app:50": true,
	} {
		if got := ChownByName(value); got != want {
			t.Errorf("ChownByName(%q) = %v, want %v", value, got, want)
		}
	}
}
