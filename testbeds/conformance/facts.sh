# shellcheck shell=sh
# Prints the facts about this machine that expectations.txt conditions test, one per line.
# POSIX sh: run by run.sh on the host (`sh facts.sh`) and by testbeds/arm/guest-conformance.sh
# in the boards (busybox ash), so both see the same detection.
#
#   cgroup-v2 | cgroup-hybrid | cgroup-v1   the layout: cgroup2 at /sys/fs/cgroup; v1
#                       hierarchies plus cgroup2 at /sys/fs/cgroup/unified; v1 only
#   v1:CTRL             a cgroup v1 hierarchy with controller CTRL is mounted
#   v2:CTRL             CTRL is in the root's cgroup.controllers of a cgroup2 mounted at
#                       /sys/fs/cgroup (a hybrid host's unified hierarchy has none)
#   cgfile:NAME         NAME exists in the root of its v1 controller's hierarchy (NAME's prefix
#                       up to the first dot is the controller: blkio.weight,
#                       memory.kmem.limit_in_bytes) or, on cgroup v2, in the root cgroup
#   cap:NAME            capability NAME (sys_resource, sys_admin, ...) is in the bounding set
#   apparmor            AppArmor is enabled
#   selinux             SELinux is enabled
#   kernel=MAJ.MIN      the running kernel (conditions compare it: kernel>=5.16)
#   arch:MACHINE        uname -m (x86_64, aarch64, armv7l)
#   netifs:1 | netifs:2+  how many network interfaces the machine has (the boards: lo only)

facts_cgroups() {
  _fc_root=$(awk '$2 == "/sys/fs/cgroup" { t = $3 } END { print t }' /proc/mounts)
  _fc_uni=$(awk '$2 == "/sys/fs/cgroup/unified" { t = $3 } END { print t }' /proc/mounts)
  if [ "$_fc_root" = cgroup2 ]; then
    echo cgroup-v2
  elif [ "$_fc_uni" = cgroup2 ]; then
    echo cgroup-hybrid
  elif grep -q ' cgroup ' /proc/mounts; then
    echo cgroup-v1
  fi
  # v1 controllers: the mount options of each cgroup (v1) mount that name a controller of
  # /proc/cgroups.
  awk '
    FILENAME == "/proc/cgroups" { if ($1 !~ /^#/) known[$1] = 1; next }
    $3 == "cgroup" {
      n = split($4, o, ",")
      for (i = 1; i <= n; i++) if (o[i] in known) print "v1:" o[i]
    }
  ' /proc/cgroups /proc/mounts | sort -u
  if [ "$_fc_root" = cgroup2 ] && [ -r /sys/fs/cgroup/cgroup.controllers ]; then
    tr ' ' '\n' </sys/fs/cgroup/cgroup.controllers | sed -n 's/^./v2:&/p'
    for _fc_f in /sys/fs/cgroup/*; do
      [ -f "$_fc_f" ] && echo "cgfile:${_fc_f##*/}"
    done
  fi
  # v1 files, in the root of the hierarchy mounted for each controller (co-mounted
  # hierarchies such as cpu,cpuacct hold the files of both).
  awk '$3 == "cgroup" { print $2 }' /proc/mounts | while read -r _fc_m; do
    for _fc_f in "$_fc_m"/*.*; do
      [ -f "$_fc_f" ] || continue
      case ${_fc_f##*/} in cgroup.* | notify_on_release | release_agent | tasks) continue ;; esac
      echo "cgfile:${_fc_f##*/}"
    done
  done | sort -u
}

# The bounding set, by name (capability numbers of linux/capability.h).
facts_caps() {
  _fp_hex=$(awk '/^CapBnd:/ { print $2 }' /proc/self/status)
  [ -n "$_fp_hex" ] || return 0
  _fp_i=0
  for _fp_n in chown dac_override dac_read_search fowner fsetid kill setgid setuid setpcap \
    linux_immutable net_bind_service net_broadcast net_admin net_raw ipc_lock ipc_owner \
    sys_module sys_rawio sys_chroot sys_ptrace sys_pacct sys_admin sys_boot sys_nice \
    sys_resource sys_time sys_tty_config mknod lease audit_write audit_control setfcap \
    mac_override mac_admin syslog wake_alarm block_suspend audit_read perfmon bpf \
    checkpoint_restore; do
    # 16 hex digits: test bit _fp_i with shell arithmetic on the right 8-digit half (POSIX
    # sh arithmetic is at least signed long; 32-bit ash would overflow on the whole).
    if [ "$_fp_i" -lt 32 ]; then
      _fp_w=$(printf '%s' "$_fp_hex" | tail -c 8) _fp_b=$_fp_i
    else
      _fp_w=$(printf '%s' "$_fp_hex" | head -c $((${#_fp_hex} - 8))) _fp_b=$((_fp_i - 32))
    fi
    [ -n "$_fp_w" ] && [ $(((0x$_fp_w >> _fp_b) & 1)) = 1 ] && echo "cap:$_fp_n"
    _fp_i=$((_fp_i + 1))
  done
}

facts() {
  facts_cgroups
  facts_caps
  if [ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)" = Y ]; then echo apparmor; fi
  if [ -e /sys/fs/selinux/enforce ]; then echo selinux; fi
  uname -r | sed -n 's/^\([0-9]*\)\.\([0-9]*\).*/kernel=\1.\2/p'
  echo "arch:$(uname -m)"
  _f_n=0
  for _f_i in /sys/class/net/*; do [ -e "$_f_i" ] && _f_n=$((_f_n + 1)); done
  if [ "$_f_n" -ge 2 ]; then echo netifs:2+; else echo netifs:1; fi
}

facts
