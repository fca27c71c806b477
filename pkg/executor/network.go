package executor

import (
	"errors"
	"fmt"
	"slices"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/ocibuilder/builder/pkg/executor/sandbox"
)

// NetworkMode is the network RUN steps get.
type NetworkMode string

const (
	// NetworkDefault gives each step a network namespace of its own with
	// outbound access through slirp4netns, a user-mode network stack, as
	// docker build gives each step a private network: the internet and
	// the host's network addresses answer, the host's loopback services
	// do not.
	NetworkDefault NetworkMode = ""
	// NetworkHost shares the host's network namespace, loopback included.
	NetworkHost NetworkMode = "host"
	// NetworkNone gives each step a network namespace with only loopback.
	NetworkNone NetworkMode = "none"
)

// ParseNetworkMode parses a --network value.
func ParseNetworkMode(s string) (NetworkMode, error) {
	switch s {
	case "", "default":
		return NetworkDefault, nil
	case "host":
		return NetworkHost, nil
	case "none":
		return NetworkNone, nil
	}
	return "", fmt.Errorf("network mode %q: want default, host or none", s)
}

// Entitlement is a privilege a Dockerfile may ask for only when the build
// allows it, as BuildKit's entitlements.
type Entitlement string

const (
	// EntitlementSecurityInsecure lets RUN --security=insecure run a step
	// with every capability and no seccomp filter.
	EntitlementSecurityInsecure Entitlement = "security.insecure"
	// EntitlementNetworkHost lets RUN --network=host steps use the host's
	// network when the build's own network is not the host's.
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

// runNetwork is the network of a RUN step: its --network, else the
// build's. A step asks for the host's network only with the build's
// consent: the build's own --network host, or --allow network.host.
func (b *builder) runNetwork(c *instructions.RunCommand) (NetworkMode, error) {
	switch instructions.GetNetwork(c) {
	case "none":
		return NetworkNone, nil
	case "host":
		if b.opts.Network != NetworkHost && !b.allowed(EntitlementNetworkHost) {
			return "", errors.New("RUN --network=host is not allowed: the build must be given --allow network.host (or --network host)")
		}
		return NetworkHost, nil
	}
	return b.opts.Network, nil
}

// sandboxNetwork is the sandbox's network for a step's mode.
func sandboxNetwork(n NetworkMode) sandbox.Network {
	switch n {
	case NetworkHost:
		return sandbox.NetworkHost
	case NetworkNone:
		return sandbox.NetworkNone
	}
	return sandbox.NetworkPrivate
}
