#!/usr/bin/env bash
# Makes a busybox root filesystem: rootfs.sh DIR [BUSYBOX]
# BUSYBOX defaults to Debian's busybox-static for this machine; the ARM testbeds pass theirs.
set -euo pipefail
dir=${1:?usage: rootfs.sh DIR [BUSYBOX]}
busybox=${2:-/bin/busybox}
[ -x "$busybox" ] || { echo "rootfs.sh: $busybox missing: apt-get install busybox-static" >&2; exit 1; }
mkdir -p "$dir"/{bin,dev,etc,proc,sys,tmp,root}
cp "$busybox" "$dir/bin/busybox"
# Applet list from the host's busybox: a foreign-arch busybox cannot run here.
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$dir/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$dir/etc/passwd"
echo 'root:x:0:' >"$dir/etc/group"
