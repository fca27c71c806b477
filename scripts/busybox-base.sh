#!/usr/bin/env bash
# busybox-base.sh DEST [BUILDER]
#
# Makes a small busybox base image as an OCI image layout directory at DEST
# (tag "latest"), from Debian's busybox-static package, with this project's
# own builder. Use it with:
#   builder build --build-context busybox=oci-layout://$(realpath DEST):latest ...
# and `FROM busybox` in the Dockerfile. The image is reproducible: its
# timestamps come from the package.
set -euo pipefail

dest=${1:?usage: busybox-base.sh DEST [BUILDER]}
builder=${2:-$(dirname "$0")/../bin/builder}
cache=${BUSYBOX_DEB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/builder}

deb=$(ls "$cache"/busybox-static_*.deb 2>/dev/null | head -n1 || true)
if [ -z "$deb" ]; then
	mkdir -p "$cache"
	if ! (cd "$cache" && apt-get download busybox-static >/dev/null 2>&1); then
		apt-get update >/dev/null
		(cd "$cache" && apt-get download busybox-static >/dev/null)
	fi
	deb=$(ls "$cache"/busybox-static_*.deb | head -n1)
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$deb" "$work/pkg"
bb="$work/pkg/bin/busybox"
[ -x "$bb" ] || { echo "busybox-base: $deb holds no bin/busybox" >&2; exit 1; }

root="$work/ctx/rootfs"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,root,home/app,tmp,var/tmp,dev,proc,sys,run}
install -m 0755 "$bb" "$root/bin/busybox"
# One symlink per applet, where busybox itself would install it.
"$bb" --list-full | while read -r applet; do
	[ "$applet" = bin/busybox ] && continue
	[ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done
cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$root/etc/group" <<'GROUP'
root:x:0:
daemon:x:1:
wheel:x:10:app
app:x:1000:
nogroup:x:65534:
GROUP
chmod 1777 "$root/tmp" "$root/var/tmp"
chmod 0700 "$root/root"
chown 1000:1000 "$root/home/app"

epoch=$(stat -c %Y "$bb")
find "$root" -exec touch -h -d "@$epoch" {} +

cat >"$work/ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY rootfs/ /
CMD ["sh"]
DOCKERFILE

SOURCE_DATE_EPOCH=$epoch "$builder" build --progress plain -q \
	--root "${BUILDER_ROOT:-$work/state}" \
	-t busybox:latest -o "type=oci,dest=$dest,tar=false" "$work/ctx" >/dev/null
echo "busybox base image: $dest (oci-layout://$(realpath "$dest"):latest)"
