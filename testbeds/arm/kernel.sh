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
# Version: by default the newest version of the flavour metapackages that the
# private APT sees for BOTH arches (so both guests run the same kernel); set
# DAVIT_KERNEL_VERSION to a metapackage version (e.g. 6.1.176-1), or
# DAVIT_KERNEL_POLICY=candidate for each arch's own newest.
#
# Usage: testbeds/arm/kernel.sh [arm64|armhf ...]   (default: both)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $(id -u) == 0 ]] || die "run as root"
cache_lock
host_apt_install binutils-aarch64-linux-gnu binutils-arm-linux-gnueabihf gpgv xz-utils
apt_priv_update

meta_pkg() {
    case $1 in
        arm64) echo linux-image-arm64 ;;
        armhf) echo linux-image-armmp ;;
    esac
}

meta_versions() { # ARCH -> versions of the metapackage, one per line
    apt_priv apt-cache madison "$(meta_pkg "$1"):$1" | awk -F' [|] ' '{ gsub(/ /, "", $2); print $2 }' | sort -u
}

newest() { # versions on stdin -> newest by dpkg ordering
    local best="" v
    while read -r v; do
        if [[ -z $best ]] || dpkg --compare-versions "$v" gt "$best"; then best=$v; fi
    done
    echo "$best"
}

ARCHES=("$@")
((${#ARCHES[@]})) || ARCHES=(arm64 armhf)
for i in "${!ARCHES[@]}"; do ARCHES[i]=$(norm_arch "${ARCHES[i]}"); done

if [[ -n ${DAVIT_KERNEL_VERSION:-} ]]; then
    COMMON=$DAVIT_KERNEL_VERSION
elif [[ ${DAVIT_KERNEL_POLICY:-common} == common ]]; then
    COMMON=$(comm -12 <(meta_versions arm64) <(meta_versions armhf) | newest)
    [[ -n $COMMON ]] || die "no kernel version is available for both arm64 and armhf"
else
    COMMON=""
fi

for arch in "${ARCHES[@]}"; do
    meta=$(meta_pkg "$arch")
    mver=${COMMON:-$(meta_versions "$arch" | newest)}
    # linux-image-arm64 (= V) Depends: linux-image-6.1.0-NN-arm64 (= V)
    depline=$(apt_priv apt-cache show "$meta:$arch=$mver" | awk -F': ' '/^Depends:/ { print $2; exit }' |
        tr ',' '\n' | grep -E '^ *linux-image-[0-9]' | head -n1)
    dep=$(awk '{ print $1 }' <<<"$depline")
    kver=$(sed -nE 's/.*\(= *([^ )]+)\).*/\1/p' <<<"$depline")
    [[ -n $dep && -n $kver ]] || die "cannot resolve $meta=$mver for $arch (Depends: $depline)"
    dest=$ARM_CACHE/kernel/$arch
    stamp=$dest/.source
    if [[ -f $stamp && $(cat "$stamp") == "$dep $kver" && -f $dest/vmlinuz ]]; then
        log "$arch kernel: $dep $kver (cached) -> $dest/vmlinuz"
        continue
    fi
    deb=$(fetch_deb "$dep" "$arch" "$kver")
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
    echo "$dep $kver" >"$dest.new/.source"
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
