#!/usr/bin/env bash
# Installs, from Debian's packages, the programs the tests drive: a real
# registry server, image copy and unpack tools, compressors, dpkg, and
# what the device and reflink tests need (loop devices, XFS).
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
	losetup:mount
