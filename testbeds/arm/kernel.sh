#!/usr/bin/env bash
# Fetch Debian kernels for the qemu-system test guests:
#   arm64: linux-image-arm64 flavour  -> qemu-system-aarch64 -M virt -cpu cortex-a53
#   armhf: linux-image-armmp flavour  -> qemu-system-arm     -M virt -cpu cortex-a15
# into $cache/kernel/<arch>/: vmlinuz, config, release, and lib/modules/<release>
# (modules are only used when boot.sh is asked for some, e.g. overlay, veth).
#
# No DTB is needed: qemu's "virt" machine generates its own device tree and
# passes it to the kernel; the armmp kernel has CONFIG_ARCH_VIRT=y and the
# PL011 UART (ttyAMA0) built in.
#
# Version: the kernel image package pinned for the arch (group "kernel" of
# testbeds/arm/pins: exact version and sha256).  pins.sh --update pins the
# newest version of the flavour metapackages available for BOTH arches (so
# both guests run the same kernel).
#
# Usage: testbeds/arm/kernel.sh [arm64|armhf ...]   (default: both)
# Env:   DAVIT_ARM_PINS (default testbeds/arm/pins), DAVIT_CACHE
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $(id -u) == 0 ]] || die "run as root"
cache_lock
host_apt_install binutils-aarch64-linux-gnu binutils-arm-linux-gnueabihf gpgv xz-utils
pins_list "" "" >/dev/null # the whole pin file parses

ARCHES=("$@")
((${#ARCHES[@]})) || ARCHES=(arm64 armhf)
for i in "${!ARCHES[@]}"; do ARCHES[i]=$(norm_arch "${ARCHES[i]}"); done

for arch in "${ARCHES[@]}"; do
    mapfile -t lines < <(pins_list kernel "$arch")
    ((${#lines[@]} == 1)) || die "$ARM_PINS must pin exactly one kernel for $arch (has ${#lines[@]})"
    read -r dep _ <<<"${lines[0]}"
    pin_read "$dep" "$arch"
    kver=$PIN_VER
    dest=$ARM_CACHE/kernel/$arch
    stamp=$dest/.source
    if [[ -f $stamp && -f $dest/vmlinuz ]]; then
        src=$(cat "$stamp")
        if [[ $src == "$dep $kver $PIN_SHA" ]]; then
            log "$arch kernel: $dep $kver (cached, pinned sha256 ${PIN_SHA:0:16}...) -> $dest/vmlinuz"
            continue
        fi
        if [[ $src == "$dep $kver" ]]; then
            # Extracted before the pins: same package and version; check the .deb once.
            fetch_pinned "$dep" "$arch" >/dev/null
            echo "$dep $kver $PIN_SHA" >"$stamp"
            log "$arch kernel: $dep $kver (cached; .deb has the pinned sha256) -> $dest/vmlinuz"
            continue
        fi
    fi
    deb=$(fetch_pinned "$dep" "$arch")
    log "extracting $(basename "$deb")"
    rm -rf "$dest.new"
    mkdir -p "$dest.new/root"
    dpkg-deb -x "$deb" "$dest.new/root"
    ctl=$(mktemp -d)
    dpkg-deb -e "$deb" "$ctl"
    (cd "$dest.new/root" && md5sum --quiet -c "$ctl/md5sums") || die "md5sums check failed for $(basename "$deb")"
    rm -rf "$ctl"
    vmlinuz=$(find "$dest.new/root/boot" -name 'vmlinuz-*' -print -quit)
    [[ -n $vmlinuz ]] || die "no vmlinuz in $deb"
    release=${vmlinuz##*/vmlinuz-}
    mv "$vmlinuz" "$dest.new/vmlinuz"
    mv "$dest.new/root/boot/config-$release" "$dest.new/config"
    mkdir -p "$dest.new/lib"
    mv "$dest.new/root/lib/modules" "$dest.new/lib/modules"
    rm -rf "$dest.new/root"
    echo "$release" >"$dest.new/release"
    echo "$dep $kver $PIN_SHA" >"$dest.new/.source"
    rm -rf "$dest"
    mv "$dest.new" "$dest"
    log "$arch kernel: $dep $kver ($release) -> $dest/vmlinuz ($(file -b "$dest/vmlinuz" | cut -c1-60))"
done

# Report the container-relevant config of each kernel.
for arch in "${ARCHES[@]}"; do
    cfg=$ARM_CACHE/kernel/$arch/config
    summary=""
    for opt in CGROUPS MEMCG CPUSETS CGROUP_FREEZER CGROUP_PIDS CGROUP_DEVICE BLK_CGROUP CGROUP_SCHED CGROUP_BPF \
        PID_NS USER_NS NET_NS IPC_NS UTS_NS SECCOMP_FILTER OVERLAY_FS VETH BRIDGE; do
        val=$(sed -n "s/^CONFIG_$opt=//p" "$cfg")
        summary+="$opt=${val:-n} "
    done
    log "$arch $(cat "$ARM_CACHE/kernel/$arch/release"): $summary"
done
