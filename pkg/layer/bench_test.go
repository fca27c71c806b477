package layer

import (
	"fmt"
	"testing"

	"github.com/ocibuilder/builder/internal/tartest"
)

func BenchmarkApply(b *testing.B) {
	requireRoot(b)
	var entries []tartest.Entry
	for d := 0; d < 100; d++ {
		entries = append(entries, tartest.Dir(fmt.Sprintf("usr/lib/d%d", d)))
		for f := 0; f < 50; f++ {
			entries = append(entries, tartest.File(fmt.Sprintf("usr/lib/d%d/f%d", d, f), "content"))
		}
	}
	data := tartest.Build(b, entries...)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := applyBytes(b, b.TempDir(), data, ApplyOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(entries)), "entries/op")
}
