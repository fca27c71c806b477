#!/usr/bin/env bash
# Installs, from Debian's packages, the programs the tests drive: a real
# registry server, image copy and unpack tools, compressors, dpkg, what
# the device and reflink tests need (loop devices, XFS), and git with an
# ssh server and client for the git sources of ADD (the ssh server's
# service stays disabled: tests run their own sshd on loopback), and
# slirp4netns, the user-mode network of RUN steps.
set -euo pipefail
exec "$(dirname "$0")/apt-deps.sh" test-deps \
	docker-registry:docker-registry \
	skopeo:skopeo \
	umoci:umoci \
	podman:podman \
	htpasswd:apache2-utils \
	bzip2:bzip2 \
	xz:xz-utils \
	zstd:zstd \
	dpkg-deb:dpkg \
	mkfs.xfs:xfsprogs \
	losetup:mount \
	git:git \
	ssh-agent:openssh-client \
	/usr/sbin/sshd:openssh-server \
	slirp4netns:slirp4netns
