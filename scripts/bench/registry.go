package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ocibuilder/builder/internal/registryserver"
)

// The loopback registry the tools pull their bases from.

// registry is a docker-registry serving plain HTTP on a loopback port,
// its output going to registry.log beside its storage.
type registry struct {
	host string
	srv  *registryserver.Server
}

// startRegistry runs docker-registry with its storage under dir (emptied
// first) on a free loopback port, and returns once it answers.
func startRegistry(ctx context.Context, dir string) (*registry, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("removing old registry: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating registry directory: %w", err)
	}
	srv, err := registryserver.Start(ctx, registryserver.Options{Dir: dir, LogFile: filepath.Join(dir, "registry.log")})
	if err != nil {
		return nil, err
	}
	return &registry{host: srv.Host(), srv: srv}, nil
}

// stop stops the registry.
func (r *registry) stop() {
	r.srv.Stop()
}

// startRegistry starts the registry under the work directory and pushes
// the busybox base, and the Debian one when debian is set, into it.
func (h *harness) startRegistry(ctx context.Context, debian bool) (*registry, error) {
	reg, err := startRegistry(ctx, h.path("registry"))
	if err != nil {
		return nil, err
	}
	bases := map[string]string{"busybox": h.opt.busybox}
	if debian {
		bases["debian"] = h.opt.debian
	}
	for name, dir := range bases {
		h.logf("registry %s: pushing %s", reg.host, dir)
		if _, err := output(ctx, "skopeo", "copy", "-q", "--dest-tls-verify=false",
			"oci:"+dir+":latest", "docker://"+reg.host+"/"+name+":latest"); err != nil {
			reg.stop()
			return nil, fmt.Errorf("pushing base %s (make busybox-base, scripts/debian-base.sh): %w", name, err)
		}
	}
	return reg, nil
}
