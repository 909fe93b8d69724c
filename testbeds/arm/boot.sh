#!/usr/bin/env bash
# Boot an ARM qemu-system guest from an initramfs, run one test script in it
# and report its result.
#
# Usage: testbeds/arm/boot.sh ARCH CGROUP_MODE PAYLOAD_DIR TEST_SCRIPT [FILE...]
#   ARCH         arm64 (aarch64, qemu-system-aarch64 -M virt -cpu cortex-a53)
#                armhf (armv7,   qemu-system-arm     -M virt -cpu cortex-a15)
#   CGROUP_MODE  v2: cgroup2 at /sys/fs/cgroup (nsdelegate), every available
#                    controller enabled in the root's cgroup.subtree_control
#                v1: as systemd mounts it (legacy hierarchy): read-only tmpfs at
#                    /sys/fs/cgroup, name=systemd at systemd/, every enabled
#                    controller of /proc/cgroups in its own hierarchy except
#                    the co-mounted cpu,cpuacct and net_cls,net_prio (with
#                    symlinks cpu, cpuacct, net_cls, net_prio to them)
#   PAYLOAD_DIR  directory copied to /payload in the guest ("-" for none);
#                /payload is first in PATH and the test's working directory
#   TEST_SCRIPT  run as `sh TEST_SCRIPT` (busybox sh) in the guest, with
#                ARCH, CGROUP_MODE, NONCE, PAYLOAD=/payload, BUSYBOX=/bin/busybox set
#   FILE...      copied into the guest's / beside /test.sh (e.g. scripts it runs)
#
# Guest: Debian kernel (kernel.sh) + busybox-static (toolchain.sh). /init
# copies the initramfs into a tmpfs and switch_roots into it (so the root is
# a real mount and pivot_root(2) works for containers), makes / rshared,
# mounts proc, sysfs, devtmpfs, devpts, /dev/shm, /tmp, /run and the cgroups,
# loads the requested modules, prints
#   DAVIT-TESTBED-BOOT nonce=<random> uptime=<s>
# runs the test, prints
#   DAVIT-TESTBED-RESULT nonce=<random> rc=<exit code> uptime=<s>
# on the serial console (ttyAMA0) and powers off (poweroff -f).
#
# Host: qemu runs under `timeout`; the serial console goes to
# $cache/logs/boot-NAME-<time>.log (also -latest.log; NAME is ARCH-MODE
# unless DAVIT_BOOT_NAME says otherwise).  Exit status:
# 0 test passed, 1 test failed (rc != 0), 2 no result marker (boot failure,
# guest crash or timeout), 3 the guest rebooted (only with DAVIT_BOOT_REBOOT=1),
# 4 the power was cut (only with DAVIT_BOOT_CUT), 64 usage error.
#
# Env: DAVIT_BOOT_TIMEOUT (s, default 300)  DAVIT_QEMU_MEM (default 512M)
#      DAVIT_QEMU_SMP (default 2: 2 host cores, MTTCG uses one thread per
#      vCPU; use 1 when the host is busy)  DAVIT_BOOT_MODULES (e.g.
#      "overlay veth": copied with their dependencies from the kernel package
#      and insmod'ed)  DAVIT_BOOT_APPEND (extra kernel arguments)
#      DAVIT_BOOT_VERBOSE=1 (stream the console to stderr too)
#      DAVIT_BOOT_REBOOT=1 (qemu runs without -no-reboot: a guest reboot boots
#      the same kernel and initramfs again; boot.sh stops qemu when the boot
#      marker shows a second time and exits 3. Without it a reboot ends qemu,
#      which is exit 2, no result)
#      DAVIT_BOOT_NAME (log name, default ARCH-MODE)
#      DAVIT_BOOT_DISK=FILE (a raw disk image, the guest's /dev/vda: virtio-mmio, so the
#      guest needs DAVIT_BOOT_MODULES="virtio_mmio virtio_blk" and its filesystem's)
#      DAVIT_BOOT_CUT="MARKER SECONDS" (the power goes off: qemu is SIGKILLed SECONDS after
#      MARKER shows on the console, no shutdown, no flush of what the guest did not write
#      to its disk; exit 4 when that happened before a result)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { sed -n '5,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 64; }
(($# >= 4)) || usage
ARCH=$(norm_arch "$1") MODE=$2 PAYLOAD=$3 TEST=$4
shift 4
EXTRA=("$@")
[[ $MODE == v1 || $MODE == v2 ]] || { echo "CGROUP_MODE must be v1 or v2" >&2; usage; }
[[ $PAYLOAD == - || -d $PAYLOAD ]] || { echo "PAYLOAD_DIR $PAYLOAD is not a directory" >&2; exit 64; }
[[ -f $TEST ]] || { echo "TEST_SCRIPT $TEST not found" >&2; exit 64; }
for f in "${EXTRA[@]}"; do [[ -f $f ]] || { echo "FILE $f not found" >&2; exit 64; }; done

TIMEOUT=${DAVIT_BOOT_TIMEOUT:-300}
MEM=${DAVIT_QEMU_MEM:-512M}
SMP=${DAVIT_QEMU_SMP:-2}
REBOOT=${DAVIT_BOOT_REBOOT:-0}
NAME=${DAVIT_BOOT_NAME:-$ARCH-$MODE}
KDIR=$ARM_CACHE/kernel/$ARCH
BUSYBOX=$ARM_CACHE/busybox/$ARCH/bin/busybox
[[ -f $KDIR/vmlinuz ]] || die "no kernel for $ARCH in $KDIR: run testbeds/arm/kernel.sh"
[[ -x $BUSYBOX ]] || die "no busybox for $ARCH: run testbeds/arm/toolchain.sh"
# shellcheck disable=SC2054 # "-M virt,highmem=off" is one argument
case $ARCH in
    arm64) QEMU=(qemu-system-aarch64 -M virt -cpu cortex-a53) ;;
    armhf) QEMU=(qemu-system-arm -M virt,highmem=off -cpu cortex-a15) ;;
esac
need_cmds "${QEMU[0]}" cpio gzip timeout

mkdir -p "$ARM_CACHE/runs" "$ARM_CACHE/logs"
RUN=$(mktemp -d "$ARM_CACHE/runs/$NAME.XXXXXX")
trap 'rm -rf "$RUN"' EXIT
ROOT=$RUN/root
mkdir -p "$ROOT"/{bin,dev,etc,lib/modules,payload,proc,sys}
cp "$BUSYBOX" "$ROOT/bin/busybox"
[[ $PAYLOAD == - ]] || cp -a "$PAYLOAD/." "$ROOT/payload/"
cp "$TEST" "$ROOT/test.sh"
for f in "${EXTRA[@]}"; do cp "$f" "$ROOT/"; done
mknod -m 600 "$ROOT/dev/console" c 5 1 2>/dev/null || true
NONCE=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')

# --- kernel modules (optional) ------------------------------------------------
: >"$ROOT/etc/modules-load"
if [[ -n ${DAVIT_BOOT_MODULES:-} ]]; then
    REL=$(cat "$KDIR/release")
    MODROOT=$KDIR/lib/modules/$REL
    OBJCOPY=$(gnu_triplet "$ARCH")-objcopy
    need_cmds "$OBJCOPY"
    declare -A SEEN=()
    add_module() {
        local name=$1 ko dep
        name=${name//-/_}
        [[ -n ${SEEN[$name]:-} ]] && return 0
        SEEN[$name]=1
        ko=$(find "$MODROOT" \( -name "$name.ko" -o -name "${name//_/-}.ko" \) -print -quit)
        if [[ -z $ko ]]; then
            grep -qE "/(${name}|${name//_/-})\.ko$" "$MODROOT/modules.builtin" 2>/dev/null && return 0
            die "module $name not found for $REL"
        fi
        "$OBJCOPY" -O binary -j .modinfo "$ko" "$RUN/modinfo"
        for dep in $(tr '\0' '\n' <"$RUN/modinfo" | sed -n 's/^depends=//p' | tr ',' ' '); do
            add_module "$dep"
        done
        cp "$ko" "$ROOT/lib/modules/$name.ko"
        echo "$name" >>"$ROOT/etc/modules-load"
    }
    for m in $DAVIT_BOOT_MODULES; do add_module "$m"; done
fi

# --- /init ----------------------------------------------------------------------
cat >"$ROOT/etc/testbed.env" <<EOF
ARCH=$ARCH
CGROUP_MODE=$MODE
NONCE=$NONCE
EOF

cat >"$ROOT/init" <<'EOF'
#!/bin/busybox sh
# davit ARM test bed init (generated by testbeds/arm/boot.sh)
bb=/bin/busybox
if [ "$1" != stage2 ]; then
    # Stage 1 (initramfs rootfs): move everything into a tmpfs and switch_root,
    # so that / is a real mount (pivot_root(2) refuses the initramfs rootfs).
    $bb mkdir -p /proc /newroot
    $bb mount -t proc proc /proc
    $bb mount -t tmpfs -o mode=755 tmpfs /newroot
    for f in /*; do
        case $f in /newroot | /proc | /sys | /dev) continue ;; esac
        $bb cp -a "$f" /newroot/
    done
    $bb mkdir -p /newroot/proc /newroot/sys /newroot/dev
    $bb umount /proc
    exec $bb switch_root /newroot /init stage2
    echo "switch_root failed"; exec $bb sh
fi
$bb mount -t proc proc /proc
$bb --install -s /bin
export PATH=/payload:/bin:/sbin:/usr/bin:/usr/sbin HOME=/root TERM=vt100
. /etc/testbed.env
mkdir -p /sys /dev /tmp /run /root /mnt /var/tmp /etc /sbin /usr/bin /usr/sbin
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t mqueue mqueue /dev/mqueue 2>/dev/null
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=755 tmpfs /run
mount --make-rshared /
[ -e /etc/passwd ] || printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >/etc/passwd
[ -e /etc/group ] || printf 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n' >/etc/group
hostname davit-testbed

if [ "$CGROUP_MODE" = v2 ]; then
    mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
    for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
        echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control || echo "testbed: cannot enable cgroup controller $c"
    done
else
    # As systemd mounts cgroup v1 (its "legacy" hierarchy, src/shared/mount-setup.c): a tmpfs,
    # the name=systemd hierarchy, then every controller the kernel has enabled, cpu,cpuacct and
    # net_cls,net_prio co-mounted (systemd's JoinControllers) with a symlink per controller;
    # finally the tmpfs is made read-only.
    mount -t tmpfs -o nosuid,nodev,noexec,mode=755 tmpfs /sys/fs/cgroup
    mkdir /sys/fs/cgroup/systemd
    mount -t cgroup -o nosuid,nodev,noexec,none,name=systemd,xattr cgroup /sys/fs/cgroup/systemd ||
        mount -t cgroup -o nosuid,nodev,noexec,none,name=systemd cgroup /sys/fs/cgroup/systemd ||
        echo "testbed: cannot mount cgroup v1 name=systemd"
    ctrls=" $(awk '!/^#/ && $4 == 1 { printf "%s ", $1 }' /proc/cgroups)"
    for c in $ctrls; do
        case $c in
            cpu) case $ctrls in *" cpuacct "*) c=cpu,cpuacct ;; esac ;;
            cpuacct) case $ctrls in *" cpu "*) continue ;; esac ;;
            net_cls) case $ctrls in *" net_prio "*) c=net_cls,net_prio ;; esac ;;
            net_prio) case $ctrls in *" net_cls "*) continue ;; esac ;;
        esac
        mkdir "/sys/fs/cgroup/$c"
        if ! mount -t cgroup -o "nosuid,nodev,noexec,$c" cgroup "/sys/fs/cgroup/$c"; then
            echo "testbed: cannot mount cgroup v1 $c"
            continue
        fi
        case $c in *,*)
            for s in $(echo "$c" | tr , ' '); do ln -s "$c" "/sys/fs/cgroup/$s"; done ;;
        esac
    done
    mount -o remount,ro,nosuid,nodev,noexec,mode=755 /sys/fs/cgroup
    echo "testbed: cgroup v1 hierarchies: $(ls /sys/fs/cgroup | tr '\n' ' ')"
fi

for m in $(cat /etc/modules-load); do
    insmod /lib/modules/$m.ko || echo "testbed: insmod $m failed"
done

echo "testbed: $(uname -srm), cgroup $CGROUP_MODE, $(grep -c ^processor /proc/cpuinfo) cpu(s), up $(cut -d' ' -f1 /proc/uptime)s"
cd /payload
echo "DAVIT-TESTBED-BOOT nonce=$NONCE uptime=$(cut -d' ' -f1 /proc/uptime)"
ARCH=$ARCH CGROUP_MODE=$CGROUP_MODE NONCE=$NONCE PAYLOAD=/payload BUSYBOX=/bin/busybox sh /test.sh
rc=$?
echo "DAVIT-TESTBED-RESULT nonce=$NONCE rc=$rc uptime=$(cut -d' ' -f1 /proc/uptime)"
sync
poweroff -f
EOF
chmod 755 "$ROOT/init" "$ROOT/test.sh"

(cd "$ROOT" && find . -print0 | cpio --null -o -H newc -R 0:0 --quiet) | gzip -1 >"$RUN/initrd.gz"

# --- boot -----------------------------------------------------------------------
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
LOG=$ARM_CACHE/logs/boot-$NAME-$STAMP-$$.log
ln -sfn "${LOG##*/}" "$ARM_CACHE/logs/boot-$NAME-latest.log"
[[ $REBOOT == 1 ]] || QEMU+=(-no-reboot)
if [[ -n ${DAVIT_BOOT_DISK:-} ]]; then
    [[ -f $DAVIT_BOOT_DISK ]] || die "DAVIT_BOOT_DISK $DAVIT_BOOT_DISK is not a file"
    # cache=writeback: what the guest wrote reaches the image file (the host's page cache)
    # at once, and its flushes become fdatasync; a SIGKILLed qemu then loses exactly what the
    # guest kept in its own caches, as a board losing power does.
    # shellcheck disable=SC2054 # the -drive value is one argument
    QEMU+=(-drive "file=$DAVIT_BOOT_DISK,if=none,id=disk0,format=raw,cache=writeback"
        -device virtio-blk-device,drive=disk0)
fi
CUT=${DAVIT_BOOT_CUT:-}
QEMU+=(-smp "$SMP" -m "$MEM" -nographic -monitor none -serial stdio -nic none
    -kernel "$KDIR/vmlinuz" -initrd "$RUN/initrd.gz"
    -append "console=ttyAMA0 rdinit=/init panic=-1 quiet loglevel=4 ${DAVIT_BOOT_APPEND:-}")
log "booting $ARCH ($MODE, smp=$SMP, mem=$MEM, initrd $(du -k "$RUN/initrd.gz" | cut -f1)K, timeout ${TIMEOUT}s); log: $LOG"
echo "# ${QEMU[*]}" >"$LOG"
t0=$(date +%s%N)
qrc=0
boots=0
cut=0
if [[ -n $CUT ]]; then
    # The power cut: SIGKILL to qemu itself (timeout's child), at the chosen moment.
    timeout -k 10 "$TIMEOUT" "${QEMU[@]}" </dev/null >>"$LOG" 2>&1 &
    qpid=$!
    [[ ${DAVIT_BOOT_VERBOSE:-0} == 1 ]] && { tail -n +2 -f "$LOG" --pid "$qpid" >&2 & }
    while kill -0 "$qpid" 2>/dev/null; do
        if tr -d '\r' <"$LOG" | grep -aqF -- "${CUT% *}"; then
            sleep "${CUT##* }"
            pkill -KILL -P "$qpid" && cut=1
            break
        fi
        sleep 0.1
    done
    wait "$qpid" || qrc=$?
elif [[ $REBOOT == 1 ]]; then
    # The guest may reboot: qemu starts it again. Stopped at the second boot marker.
    timeout -k 10 "$TIMEOUT" "${QEMU[@]}" </dev/null >>"$LOG" 2>&1 &
    qpid=$!
    [[ ${DAVIT_BOOT_VERBOSE:-0} == 1 ]] && { tail -n +2 -f "$LOG" --pid "$qpid" >&2 & }
    while kill -0 "$qpid" 2>/dev/null; do
        boots=$(tr -d '\r' <"$LOG" | grep -ac "DAVIT-TESTBED-BOOT nonce=$NONCE " || true)
        if ((boots >= 2)); then
            kill -TERM "$qpid" 2>/dev/null
            break
        fi
        sleep 0.2
    done
    wait "$qpid" || qrc=$?
elif [[ ${DAVIT_BOOT_VERBOSE:-0} == 1 ]]; then
    timeout -k 10 "$TIMEOUT" "${QEMU[@]}" </dev/null 2>&1 | tee -a "$LOG" >&2 || qrc=${PIPESTATUS[0]}
else
    timeout -k 10 "$TIMEOUT" "${QEMU[@]}" </dev/null >>"$LOG" 2>&1 || qrc=$?
fi
t1=$(date +%s%N)
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')

if ((boots >= 2)); then
    echo "REBOOT $ARCH $MODE: the guest booted a second time, ${secs}s wall; log: $LOG"
    exit 3
fi
if ((cut)) && ! tr -d '\r' <"$LOG" | grep -aq "DAVIT-TESTBED-RESULT nonce=$NONCE "; then
    echo "CUT $ARCH $MODE: the power went off ${CUT##* } s after \"${CUT% *}\", ${secs}s wall; log: $LOG"
    exit 4
fi
marker=$(tr -d '\r' <"$LOG" | grep -aoE "DAVIT-TESTBED-RESULT nonce=$NONCE rc=[0-9]+ uptime=[0-9.]+" | tail -n1 || true)
if [[ -z $marker ]]; then
    tail -n 40 "$LOG" >&2
    why="no result marker"
    ((qrc == 124 || qrc == 137)) && why="timeout after ${TIMEOUT}s"
    echo "FAIL $ARCH $MODE: $why (qemu exit $qrc, ${secs}s); log: $LOG"
    exit 2
fi
rc=$(sed -E 's/.* rc=([0-9]+).*/\1/' <<<"$marker")
uptime=$(sed -E 's/.* uptime=([0-9.]+).*/\1/' <<<"$marker")
if ((rc == 0)); then
    echo "PASS $ARCH $MODE: test rc=0, ${secs}s wall (guest uptime ${uptime}s at result); log: $LOG"
    exit 0
fi
tail -n 40 "$LOG" >&2
echo "FAIL $ARCH $MODE: test rc=$rc, ${secs}s wall; log: $LOG"
exit 1
