package executor

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// FuzzParsePorts checks that every EXPOSE key is "port/proto" with a
// valid port and protocol, in order.
func FuzzParsePorts(f *testing.F) {
	for _, s := range []string{"80", "53/udp", "8000-8002/tcp", "1-0", "65535/SCTP", "-/", "80/", "0-65535"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ports, err := parsePorts(s)
		if err != nil {
			return
		}
		if len(ports) == 0 {
			t.Fatalf("parsePorts(%q) returned no ports and no error", s)
		}
		prev := -1
		for _, p := range ports {
			num, proto, ok := strings.Cut(p, "/")
			n, nerr := strconv.Atoi(num)
			if !ok || nerr != nil || n < 0 || n > 65535 || n <= prev || (proto != "tcp" && proto != "udp" && proto != "sctp") {
				t.Fatalf("parsePorts(%q) gave %q", s, p)
			}
			if fmt.Sprintf("%d/%s", n, proto) != p {
				t.Fatalf("parsePorts(%q) gave non-canonical %q", s, p)
			}
			prev = n
		}
	})
}
