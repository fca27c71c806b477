#!/usr/bin/env bash
# Usage: apt-deps.sh TAG SPEC...
# Installs from Debian's packages what the specs name, each "command:package"
# (a program looked up in PATH) or "/path:package" (a file that must exist).
# TAG names the caller in messages.
#
# It does nothing (and fast) when everything is already there. When it
# does install, no system service may come out of it running or enabled:
# the registry package would otherwise start a daemon on port 5000 that
# outlives the install and collides with the registries tests and
# benchmarks start themselves.
set -euo pipefail

tag=$1
shift
deps=("$@")

# present reports whether the program or file of a spec is there.
present() {
	local what=${1%%:*}
	case $what in
	/*) [ -e "$what" ] ;;
	*) command -v "$what" >/dev/null 2>&1 ;;
	esac
}

missing=()
for d in "${deps[@]}"; do
	present "$d" || missing+=("${d#*:}")
done
if [ "${#missing[@]}" -eq 0 ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "$tag: missing ${missing[*]}; run as root to install them" >&2
	exit 1
fi

policy=/usr/sbin/policy-rc.d
saved=$policy.$tag-saved

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

# Daemons started by a package's scripts run as the package's system user
# (the registry's as docker-registry); the tests' registries run as the
# user running the tests, so the two are never confused.
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
				# Without a running systemd this only removes the links.
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

echo "$tag: installing ${missing[*]}"
if [ -e "$policy" ]; then
	mv -f "$policy" "$saved"
fi
trap restore_policy EXIT
printf '#!/bin/sh\n# Installed by scripts/%s.sh for the length of an install.\nexit 101\n' "$tag" >"$policy"
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
	echo "$tag: stopping registry daemon $pid, started by the install" >&2
	kill "$pid" 2>/dev/null || true
done
for pid in $started; do
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "$tag: registry daemon $pid is still running:" >&2
		ss -ltnp >&2
		exit 1
	fi
done

fail=0
for d in "${deps[@]}"; do
	if ! present "$d"; then
		echo "$tag: ${d%%:*} still missing after installing ${d#*:}" >&2
		fail=1
	fi
done
[ "$fail" -eq 0 ] || exit 1

echo "$tag: installed:"
for p in $new_pkgs; do
	printf '  %s %s\n' "$p" "$(dpkg-query -W -f '${Version}' "$p")"
done
