#!/usr/bin/env bash
# Installs, from Debian's packages, what `make bench` drives besides this
# builder: buildah (the tool it is compared with), debootstrap (for the
# Debian base image), a registry server the bases are pulled from, skopeo
# to push them there and to check outputs, and dpkg-deb for the busybox
# base.
#
# It does nothing (and fast) when every program is already there. When it
# does install, no system service may come out of it running or enabled:
# the registry package would otherwise start a daemon on port 5000 that
# outlives the install.
set -euo pipefail

# command:package, one per program the benchmark runs.
deps=(
	buildah:buildah
	debootstrap:debootstrap
	docker-registry:docker-registry
	skopeo:skopeo
	dpkg-deb:dpkg
	gpgv:gpgv
)
# Files that must be there too, as file:package: debootstrap checks the
# archive's signatures with Debian's keyring (only a recommendation of
# the package, so not pulled in by --no-install-recommends).
files=(
	/usr/share/keyrings/debian-archive-keyring.gpg:debian-archive-keyring
)

missing=()
for d in "${deps[@]}"; do
	command -v "${d%%:*}" >/dev/null 2>&1 || missing+=("${d#*:}")
done
for f in "${files[@]}"; do
	[ -e "${f%%:*}" ] || missing+=("${f#*:}")
done
if [ "${#missing[@]}" -eq 0 ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "bench-deps: missing ${missing[*]}; run as root to install them" >&2
	exit 1
fi

policy=/usr/sbin/policy-rc.d
saved=$policy.bench-deps-saved

# A run killed between swapping the policy and restoring it leaves the
# machine's own policy aside: put it back before anything else.
if [ -e "$saved" ]; then
	mv -f "$saved" "$policy"
fi

restore_policy() {
	if [ -e "$saved" ]; then
		mv -f "$saved" "$policy"
	else
		rm -f "$policy"
	fi
}

# Daemons started by a package's scripts run as the package's system user.
service_registries() {
	if getent passwd docker-registry >/dev/null; then
		pgrep -x -u docker-registry docker-registry | sort || true
	fi
}

installed_packages() {
	dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' | awk '$1 ~ /^ii/ { print $2 }' | sort
}

# Turns off, for boot and for socket activation, every init script and
# systemd unit that a package shipped.
disable_services() {
	local pkg=$1 f name
	while IFS= read -r f; do
		case $f in
		/etc/init.d/*)
			name=${f##*/}
			update-rc.d "$name" disable >/dev/null 2>&1 || true
			;;
		/lib/systemd/system/*.service | /lib/systemd/system/*.socket | /lib/systemd/system/*.timer | \
			/usr/lib/systemd/system/*.service | /usr/lib/systemd/system/*.socket | /usr/lib/systemd/system/*.timer)
			name=${f##*/}
			case $name in *@.*) continue ;; esac
			if [ -d /run/systemd/system ]; then
				systemctl disable --now "$name" >/dev/null 2>&1 || true
			elif command -v systemctl >/dev/null 2>&1; then
				systemctl disable "$name" >/dev/null 2>&1 || true
			else
				DPKG_MAINTSCRIPT_PACKAGE=$pkg deb-systemd-helper disable "$name" >/dev/null 2>&1 || true
			fi
			;;
		esac
	done < <(dpkg -L "$pkg" 2>/dev/null)
}

before_pkgs=$(installed_packages)
before_daemons=$(service_registries)

echo "bench-deps: installing ${missing[*]}"
if [ -e "$policy" ]; then
	mv -f "$policy" "$saved"
fi
trap restore_policy EXIT
printf '#!/bin/sh\n# Installed by scripts/bench-deps.sh for the length of an install.\nexit 101\n' >"$policy"
chmod 0755 "$policy"

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
	-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
	"${missing[@]}" >/dev/null

restore_policy
trap - EXIT

new_pkgs=$(comm -13 <(echo "$before_pkgs") <(installed_packages))
for p in $new_pkgs; do
	disable_services "$p"
done

# A registry daemon that slipped past the policy is this install's own.
started=$(comm -13 <(echo "$before_daemons") <(service_registries))
for pid in $started; do
	echo "bench-deps: stopping registry daemon $pid, started by the install" >&2
	kill "$pid" 2>/dev/null || true
done
for pid in $started; do
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "bench-deps: registry daemon $pid is still running" >&2
		exit 1
	fi
done

fail=0
for d in "${deps[@]}"; do
	if ! command -v "${d%%:*}" >/dev/null 2>&1; then
		echo "bench-deps: ${d%%:*} still missing after installing ${d#*:}" >&2
		fail=1
	fi
done
for f in "${files[@]}"; do
	if [ ! -e "${f%%:*}" ]; then
		echo "bench-deps: ${f%%:*} still missing after installing ${f#*:}" >&2
		fail=1
	fi
done
[ "$fail" -eq 0 ] || exit 1

echo "bench-deps: installed:"
for p in $new_pkgs; do
	printf '  %s %s\n' "$p" "$(dpkg-query -W -f '${Version}' "$p")"
done
