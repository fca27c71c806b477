#!/usr/bin/env bash
# debian-base.sh DEST [BUILDER]
#
# Makes a Debian bookworm base image (debootstrap --variant=minbase) as an
# OCI image layout directory at DEST (tag "latest"), with this project's own
# builder. The packages come from the Debian mirror apt is configured with
# (DEBIAN_MIRROR overrides it). Run as root: debootstrap installs packages
# into a chroot and needs to own files as other users.
#
# The image is made once: an existing DEST/index.json is kept as it is
# (DEBIAN_BASE_REBUILD=1 makes it again). The downloaded packages are kept
# in DEBIAN_DEB_CACHE (default ~/.cache/builder/debootstrap) for a rebuild.
set -euo pipefail

dest=${1:?usage: debian-base.sh DEST [BUILDER]}
builder=${2:-$(dirname "$0")/../bin/builder}
suite=bookworm
debcache=${DEBIAN_DEB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/builder/debootstrap}

if [ -e "$dest/index.json" ] && [ -z "${DEBIAN_BASE_REBUILD:-}" ]; then
	echo "debian base image: $dest (kept; DEBIAN_BASE_REBUILD=1 makes it again)"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "debian-base: debootstrap needs root" >&2
	exit 1
fi
command -v debootstrap >/dev/null || {
	echo "debian-base: debootstrap is missing (scripts/bench-deps.sh installs it)" >&2
	exit 1
}

# apt_mirror prints the URI of the first configured source that serves the
# suite's main component, from deb822 .sources files or one-line lists.
apt_mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -e "$f" ] || continue
		awk -v suite="$suite" '
			function flush() {
				if (types ~ /(^| )deb( |$)/ && suites ~ ("(^| )" suite "( |$)") && comps ~ /(^| )main( |$)/ && uris != "" && enabled !~ /^[Nn]o/) {
					split(uris, u, " "); print u[1]; found = 1; exit
				}
				types = suites = comps = uris = enabled = ""
			}
			/^[ \t]*#/ { next }
			/^[ \t]*$/ { flush(); next }
			{
				key = tolower($1); sub(/:$/, "", key)
				val = $0; sub(/^[^:]*:[ \t]*/, "", val)
				if (key == "types") types = val
				else if (key == "suites") suites = val
				else if (key == "components") comps = val
				else if (key == "uris") uris = val
				else if (key == "enabled") enabled = val
			}
			END { if (!found) flush() }
		' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -e "$f" ] || continue
		# deb [options] URI SUITE COMPONENT...
		sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" |
			awk -v suite="$suite" '$1 == "deb" && $3 == suite { for (i = 4; i <= NF; i++) if ($i == "main") { print $2; exit } }'
	done
}

mirror=${DEBIAN_MIRROR:-$(apt_mirror | head -n1)}
if [ -z "$mirror" ]; then
	echo "debian-base: no apt source serves $suite main; set DEBIAN_MIRROR" >&2
	exit 1
fi
# debootstrap downloads with wget, which knows only the environment's proxy.
eval "$(apt-config shell apt_proxy Acquire::http::Proxy)"
if [ -n "${apt_proxy:-}" ] && [ -z "${http_proxy:-}" ]; then
	export http_proxy=$apt_proxy
fi

work=$(mktemp -d)
root="$work/ctx/rootfs"
# debootstrap mounts /proc and /sys inside the target while it works; a run
# that fails midway may leave them mounted, and rm -rf must never descend
# into the host's /proc or /sys through them.
mounts_under_work() {
	findmnt -rn -o TARGET | grep -F "$work/" | sort -r || true
}
cleanup() {
	local m
	for m in $(mounts_under_work); do
		umount -l "$m" || true
	done
	if [ -n "$(mounts_under_work)" ]; then
		echo "debian-base: mounts remain under $work; not removing it" >&2
		return
	fi
	rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$root" "$debcache"
echo "debian-base: debootstrap --variant=minbase $suite from $mirror"
if ! debootstrap --variant=minbase --cache-dir="$debcache" \
	--keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
	"$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1; then
	tail -n 30 "$work/debootstrap.log" >&2
	[ -e "$root/debootstrap/debootstrap.log" ] && tail -n 30 "$root/debootstrap/debootstrap.log" >&2
	echo "debian-base: debootstrap failed" >&2
	exit 1
fi

# What a container runtime provides, and what only served the install.
rm -rf "$root"/dev/* "$root"/proc/* "$root"/sys/* "$root"/run/* "$root"/tmp/* \
	"$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/debootstrap
# The image's sources are the mirror it was made from.
printf 'deb %s %s main\n' "$mirror" "$suite" >"$root/etc/apt/sources.list"

# ADD of a local tar keeps the files' owners (root:shadow, root:utmp and
# the like), which COPY from the build context would reset to root.
tar --numeric-owner --xattrs -C "$root" -cf "$work/ctx/rootfs.tar" .
rm -rf "$root"

cat >"$work/ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
ADD rootfs.tar /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD ["bash"]
DOCKERFILE

rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
"$builder" build --progress plain -q \
	--root "${BUILDER_ROOT:-$work/state}" \
	-t debian:latest -o "type=oci,dest=$dest,tar=false" "$work/ctx" >/dev/null
echo "debian base image: $dest (oci-layout://$(realpath "$dest"):latest)"
