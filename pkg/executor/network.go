package executor

import (
	"fmt"
	"slices"
)

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

// Entitlement is a privilege a Dockerfile may ask for only when the build
// allows it, as BuildKit's entitlements.
type Entitlement string

const (
	// EntitlementSecurityInsecure lets RUN --security=insecure run a step
	// with every capability and no seccomp filter.
	EntitlementSecurityInsecure Entitlement = "security.insecure"
	// EntitlementNetworkHost lets steps use the host's network; RUN steps
	// have it already, so it is accepted for buildx compatibility.
	EntitlementNetworkHost Entitlement = "network.host"
)

// ParseEntitlement parses an --allow value.
func ParseEntitlement(s string) (Entitlement, error) {
	switch e := Entitlement(s); e {
	case EntitlementSecurityInsecure, EntitlementNetworkHost:
		return e, nil
	}
	return "", fmt.Errorf("unknown entitlement %q: want security.insecure or network.host", s)
}

// allowed reports whether the build grants e.
func (b *builder) allowed(e Entitlement) bool {
	return slices.Contains(b.opts.Allow, e)
}
