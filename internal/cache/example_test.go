package cache_test

import (
	"fmt"

	"github.com/ocibuilder/builder/internal/cache"
)

// Explain compares a step's inputs with those of its last build.
func ExampleExplain() {
	last := &cache.Entry{Text: "RUN make", Input: cache.Input{Op: "RUN", Args: []string{"/bin/sh", "-c", "make"}, BuildArgs: []string{"VERSION=1"}}}
	last.Key = last.Input.Key()
	cur := &cache.Entry{Text: "RUN make", Input: cache.Input{Op: "RUN", Args: []string{"/bin/sh", "-c", "make"}, BuildArgs: []string{"VERSION=2"}}}
	cur.Key = cur.Input.Key()
	fmt.Println(cache.Explain(last, cur))
	fmt.Println(cache.Explain(nil, cur))
	// Output:
	// build arg VERSION changed: "1" → "2"
	// no earlier build of this step
}
