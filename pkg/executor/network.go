package executor

import "fmt"

// NetworkMode is the network RUN steps get.
type NetworkMode string

const (
	// NetworkDefault is the host's network, as for docker build.
	NetworkDefault NetworkMode = ""
	// NetworkHost shares the host's network namespace.
	NetworkHost NetworkMode = "host"
	// NetworkNone gives each step a network namespace with only loopback.
	NetworkNone NetworkMode = "none"
)

// ParseNetworkMode parses a --network value.
func ParseNetworkMode(s string) (NetworkMode, error) {
	switch s {
	case "", "default", "host":
		return NetworkHost, nil
	case "none":
		return NetworkNone, nil
	}
	return "", fmt.Errorf("network mode %q: want host or none", s)
}
