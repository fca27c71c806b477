package units_test

import (
	"fmt"

	"github.com/ocibuilder/builder/internal/units"
)

func ExampleParseBytes() {
	for _, s := range []string{"512m", "1.5g", "64MiB", "12345678"} {
		n, err := units.ParseBytes(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(s, "=", n, "bytes =", units.FormatBytes(n))
	}
	// Output:
	// 512m = 536870912 bytes = 512MiB
	// 1.5g = 1610612736 bytes = 1536MiB
	// 64MiB = 67108864 bytes = 64MiB
	// 12345678 = 12345678 bytes = 11.8MiB
}
