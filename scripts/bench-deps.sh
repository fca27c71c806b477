#!/usr/bin/env bash
# Installs, from Debian's packages, what `make bench` drives besides this
# builder: buildah (the tool it is compared with), debootstrap and Debian's
# archive keyring (for the Debian base image; debootstrap only recommends
# the keyring), a registry server the bases are pulled from, skopeo to
# push them there and to check outputs, and dpkg-deb for the busybox base.
set -euo pipefail
exec "$(dirname "$0")/apt-deps.sh" bench-deps \
	buildah:buildah \
	slirp4netns:slirp4netns \
	debootstrap:debootstrap \
	docker-registry:docker-registry \
	skopeo:skopeo \
	dpkg-deb:dpkg \
	gpgv:gpgv \
	/usr/share/keyrings/debian-archive-keyring.gpg:debian-archive-keyring
