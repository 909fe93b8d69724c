# shellcheck shell=sh disable=SC2016 # single-quoted code runs in sub-shells
# Guest-side smoke test for the ARM test bed (run by boot.sh with busybox sh).
# Payload: hello and seccomp (static smoke binaries from toolchain.sh).
# Checks: the binaries run; PID + mount namespaces work; the cgroup layout of
# CGROUP_MODE (v2: memory.max, cgroup.freeze in a child cgroup and a real
# freeze; v1: systemd's layout, memory.limit_in_bytes, freezer.state, ...) is usable.
pass=0
fail=0
check() {
    desc=$1
    shift
    if "$@"; then
        echo "ok   - $desc"
        pass=$((pass + 1))
    else
        echo "FAIL - $desc"
        fail=$((fail + 1))
    fi
}
wait_for() { # wait_for SECONDS CMD...: retry CMD every 0.1 s
    n=$(($1 * 10))
    shift
    while [ "$n" -gt 0 ]; do
        "$@" && return 0
        sleep 0.1
        n=$((n - 1))
    done
    return 1
}

echo "--- guest: arch=$ARCH cgroup=$CGROUP_MODE kernel=$(uname -r) machine=$(uname -m)"

check "hello (static rust, $ARCH) runs" ./hello
check "static libseccomp filter is enforced" ./seccomp

# PID + mount namespaces (busybox unshare; as a container runtime would).
check "unshare -p -m -f --mount-proc true" unshare -p -m -f --mount-proc true
check "new PID namespace: shell is pid 1" unshare -p -m -f --mount-proc sh -c '[ "$$" = 1 ]'
check "new PID namespace: /proc shows only its own processes" \
    unshare -p -m -f --mount-proc sh -c 'for p in /proc/[0-9]*; do [ "${p#/proc/}" -lt 10 ] || exit 1; done'
mkdir -p /mnt/ns-check
check "mount in a new mount namespace" unshare -m sh -c 'mount -t tmpfs t /mnt/ns-check && touch /mnt/ns-check/inner'
check "... is not visible outside it" test ! -e /mnt/ns-check/inner
check "new UTS/IPC/net namespaces" unshare -u -i -n sh -c 'hostname inner && [ "$(hostname)" = inner ]'
check "/ is a mount point (not the initramfs rootfs)" grep -q ' / / ' /proc/self/mountinfo
check "pivot_root(2) into a tmpfs in a new mount namespace" unshare -m sh -c '
    set -e
    mount --make-rprivate /
    d=/tmp/newroot
    mkdir -p $d
    mount -t tmpfs t $d
    mkdir -p $d/bin $d/old
    cp /bin/busybox $d/bin/busybox
    cd $d
    pivot_root . old
    /bin/busybox test -d /old/payload
    /bin/busybox umount -l /old
    ! /bin/busybox test -e /old/payload'

cg=/sys/fs/cgroup
if [ "$CGROUP_MODE" = v2 ]; then
    check "cgroup2 mounted" grep -q "^cgroup2 $cg cgroup2" /proc/mounts
    ctrls=$(cat $cg/cgroup.subtree_control)
    echo "    subtree_control: $ctrls"
    for c in cpuset cpu io memory pids; do
        check "controller $c delegated" sh -c "echo ' $ctrls ' | grep -q ' $c '"
    done
    mkdir $cg/smoke
    check "child has memory.max" test -f $cg/smoke/memory.max
    check "child has cgroup.freeze" test -f $cg/smoke/cgroup.freeze
    check "child has pids.max, cpu.max, cpuset.cpus, io.max" \
        test -f $cg/smoke/pids.max -a -f $cg/smoke/cpu.max -a -f $cg/smoke/cpuset.cpus -a -f $cg/smoke/io.max
    check "memory.max is writable" sh -c "echo 67108864 > $cg/smoke/memory.max && [ \$(cat $cg/smoke/memory.max) = 67108864 ]"
    sleep 60 &
    spid=$!
    echo $spid >$cg/smoke/cgroup.procs
    check "process moved into the child cgroup" grep -qx "0::/smoke" /proc/$spid/cgroup
    echo 1 >$cg/smoke/cgroup.freeze
    check "cgroup.freeze: frozen 1" wait_for 5 grep -qx "frozen 1" $cg/smoke/cgroup.events
    echo 0 >$cg/smoke/cgroup.freeze
    check "cgroup.freeze: thawed" wait_for 5 grep -qx "frozen 0" $cg/smoke/cgroup.events
    kill $spid
    wait $spid 2>/dev/null
    check "empty child cgroup removable" wait_for 5 rmdir $cg/smoke
else
    check "cgroup v1 hierarchies mounted" sh -c "[ \$(grep -c '^cgroup $cg/.* cgroup ' /proc/mounts) -ge 7 ]"
    check "memory/memory.limit_in_bytes" test -f $cg/memory/memory.limit_in_bytes
    check "freezer hierarchy" test -d $cg/freezer -a -f $cg/freezer/cgroup.procs
    check "cpu -> cpu,cpuacct symlink" test -f $cg/cpu/cpu.cfs_quota_us -a -f $cg/cpuacct/cpuacct.usage
    check "cpu, cpuacct link to the co-mounted cpu,cpuacct (systemd's layout)" \
        sh -c "[ \$(readlink $cg/cpu) = cpu,cpuacct ] && [ \$(readlink $cg/cpuacct) = cpu,cpuacct ]"
    check "name=systemd hierarchy" grep -q "^cgroup $cg/systemd cgroup .*name=systemd" /proc/mounts
    check "cpuset, devices, blkio, pids" \
        test -f $cg/cpuset/cpuset.cpus -a -f $cg/devices/devices.list -a -d $cg/blkio -a -d $cg/pids
    mkdir $cg/memory/smoke $cg/freezer/smoke $cg/pids/smoke
    check "memory.limit_in_bytes is writable" \
        sh -c "echo 67108864 > $cg/memory/smoke/memory.limit_in_bytes && [ \$(cat $cg/memory/smoke/memory.limit_in_bytes) = 67108864 ]"
    check "pids.max in child" test -f $cg/pids/smoke/pids.max
    sleep 60 &
    spid=$!
    echo $spid >$cg/freezer/smoke/cgroup.procs
    echo FROZEN >$cg/freezer/smoke/freezer.state
    check "freezer.state: FROZEN" wait_for 5 grep -qx FROZEN $cg/freezer/smoke/freezer.state
    echo THAWED >$cg/freezer/smoke/freezer.state
    check "freezer.state: THAWED" wait_for 5 grep -qx THAWED $cg/freezer/smoke/freezer.state
    kill $spid
    wait $spid 2>/dev/null
    check "empty child cgroups removable" rmdir $cg/memory/smoke $cg/freezer/smoke $cg/pids/smoke
fi

echo "--- guest smoke: $pass ok, $fail failed"
[ "$fail" = 0 ]
