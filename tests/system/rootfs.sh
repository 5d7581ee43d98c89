#!/bin/bash
# Print the path of a cached Debian 12 root filesystem (tar.zst) for the system tests,
# building it with debootstrap on the first run.  The cache lives outside the repository
# (VODTENDER_ROOTFS_CACHE, default /var/tmp/vodtender-rootfs-cache) so reruns cost seconds.
#
# The packages the .deb depends on (python3, ffmpeg) are in the cache, so the test installs
# the package without network and boots the container with only a loopback interface.
# `rootfs.sh --mirror` prints the Debian mirror it uses (VODTENDER_DEBIAN_MIRROR overrides it).
set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin   # Debian's tools, not a python3 from elsewhere

SUITE=bookworm
INCLUDE=systemd,systemd-sysv,dbus,python3,ffmpeg,ca-certificates,sqlite3,procps
CACHE=${VODTENDER_ROOTFS_CACHE:-/var/tmp/vodtender-rootfs-cache}
KEY=$(printf '%s %s v1' "$SUITE" "$INCLUDE" | sha256sum | cut -c1-12)
TARBALL=$CACHE/$SUITE-$KEY.tar.zst

mirror() {
    awk '/^deb /{print $2; exit}' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true
    { grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security || true; } | head -1
}
MIRROR=${VODTENDER_DEBIAN_MIRROR:-$(mirror | head -1)}
[ -n "$MIRROR" ] || { echo "no Debian mirror found in the apt sources; set VODTENDER_DEBIAN_MIRROR" >&2; exit 1; }
if [ "${1:-}" = "--mirror" ]; then echo "$MIRROR"; exit 0; fi   # for piuparts

if [ -s "$TARBALL" ]; then echo "$TARBALL"; exit 0; fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9                                   # two test runs must not build it twice
if [ -s "$TARBALL" ]; then echo "$TARBALL"; exit 0; fi

BUILD=$(mktemp -d "$CACHE/build.XXXXXX")
trap 'rm -rf "$BUILD"' EXIT
echo "building the $SUITE root filesystem from $MIRROR (once; cached in $CACHE)" >&2
debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$BUILD/root" "$MIRROR" >"$BUILD/debootstrap.log" 2>&1 \
    || { tail -20 "$BUILD/debootstrap.log" >&2; exit 1; }
chroot "$BUILD/root" apt-get clean
rm -rf "$BUILD"/root/var/lib/apt/lists/* "$BUILD"/root/var/cache/apt/*.bin
echo vodtender-test >"$BUILD/root/etc/hostname"
tar --zstd -C "$BUILD/root" -cf "$BUILD/rootfs.tar.zst" .
mv "$BUILD/rootfs.tar.zst" "$TARBALL"
echo "$TARBALL"
