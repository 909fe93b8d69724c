#!/usr/bin/env bash
# Container escape attempts against davit and runc with the same bundle; prints a Markdown
# table `| attack | davit | runc |` on stdout (progress on stderr). Every outcome is judged from
# the host: sha256 of a runtime binary, host paths and mounts, files the container wrote into
# its bundle's rootfs. Exit codes are only used to tell "refused" from "ran".
#
#   testbeds/isolation/compare.sh [--davit PATH] [--runc PATH] [--cases 1,2,3,4,5]
#
# Needs root, jq, a busybox bundle (default /var/cache/davit/bundle; only its rootfs is used and
# it is copied, never modified). See README.md for what each case does.
set -u
set -o pipefail

# Where the build and the bundle live: testbeds/env.sh (a DAVIT_BIN given by the caller wins).
caller_davit=${DAVIT_BIN:-}
. "$(cd "$(dirname "$0")" && pwd)/../env.sh"
DAVIT_BIN=${caller_davit:-$DAVIT_BIN}
RUNC_BIN=${RUNC_BIN:-/usr/sbin/runc}
BASE_BUNDLE=${ISO_BUNDLE:-$DAVIT_CACHE/bundle}
T=${ISO_TIMEOUT:-20}             # seconds for every single runtime call
EXEC_TRIES=${ISO_EXEC_TRIES:-20} # case 2: execs into the container before giving up
CASES=1,2,3,4,5

usage() { echo "usage: $0 [--davit PATH] [--runc PATH] [--cases 1,2,3,4,5]"; }
while [ $# -gt 0 ]; do
  case $1 in
    --davit) DAVIT_BIN=${2:?}; shift 2 ;;
    --runc) RUNC_BIN=${2:?}; shift 2 ;;
    --cases) CASES=${2:?}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done

# Become a child subreaper (as a containerd shim is): a container's init outlives `create`, and
# its zombie must be reaped by us, not left to a pid 1 that may not reap. Kept across exec.
# Also close inherited fds above 2, so that the fd listings of case 3 show only the runtimes' own.
if [ -z "${ISO_SUBREAPER:-}" ] && command -v python3 >/dev/null; then
  export ISO_SUBREAPER=1
  exec python3 -c 'import ctypes, os, sys
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
os.closerange(3, 4096)
os.execv("/bin/bash", ["bash"] + sys.argv[1:])' "$0" --davit "$DAVIT_BIN" --runc "$RUNC_BIN" --cases "$CASES"
fi

log() { echo "[isolation] $*" >&2; }
die() { log "error: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"
for t in jq timeout sha256sum findmnt; do command -v $t >/dev/null || die "$t not found"; done
[ -x "$DAVIT_BIN" ] || die "davit binary not found: $DAVIT_BIN"
[ "$RUNC_BIN" = /usr/sbin/runc ] && davit_apt_install isolation runc >&2
[ -x "$RUNC_BIN" ] || die "runc binary not found: $RUNC_BIN"
[ -x "$BASE_BUNDLE/rootfs/bin/busybox" ] || die "no busybox rootfs in $BASE_BUNDLE"
here=$(cd "$(dirname "$0")" && pwd)

RUNTIMES=(davit runc)
W=$(mktemp -d /tmp/davit-iso.XXXXXX) || die "mktemp"
chmod 755 "$W"
MARKER=/davit-iso-host-marker-${W##*.}
CG_PARENT=davit-iso
declare -A PRISTINE BIN ROOT
CONTAINERS=() # "rt bin root id"
CPID=""
INITS=()      # "pid starttime" of container processes, killed at exit if delete -f missed them
HOST_MOUNTS_CREATED=()

# ---------------------------------------------------------------- cleanup
cleanup() {
  local c rt bin root id p st
  trap - EXIT INT TERM
  for c in "${CONTAINERS[@]}"; do
    read -r rt bin root id <<<"$c"
    timeout -k 5 "$T" "$bin" --root "$root" delete -f "$id" >/dev/null 2>&1 ||
      timeout -k 5 "$T" "${PRISTINE[$rt]}" --root "$root" delete -f "$id" >/dev/null 2>&1
  done
  for c in "${INITS[@]}"; do
    read -r p st <<<"$c"
    if [ -n "$st" ] && [ "$(proc_starttime "$p")" = "$st" ]; then
      log "container process $p survived delete -f ($(ps -o stat=,ppid=,args= -p "$p")); killing it"
      kill -9 "$p" 2>/dev/null
    fi
  done
  for m in "${HOST_MOUNTS_CREATED[@]}"; do
    mountpoint -q "$m" && umount -l "$m" 2>/dev/null
  done
  if [ -n "${ESCAPE_DIR_CREATED:-}" ] && [ -d /davit-iso-escape ]; then
    rmdir /davit-iso-escape 2>/dev/null
  fi
  for d in /sys/fs/cgroup/*/"$CG_PARENT" /sys/fs/cgroup/"$CG_PARENT"; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  rm -f "$MARKER"
  if findmnt -rn -o TARGET | grep -q "^$W"; then
    log "mounts left under $W, not removing it"
  else
    rm -rf --one-file-system "$W"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

proc_starttime() { awk '{ sub(/.*\) /, ""); print $20 }' "/proc/$1/stat" 2>/dev/null; }

# ---------------------------------------------------------------- helpers
mkdir -p "$W/bin"
for rt in "${RUNTIMES[@]}"; do
  src=$DAVIT_BIN
  [ "$rt" = runc ] && src=$RUNC_BIN
  # One pristine copy per run: every case tests the same build even if the real one is rebuilt.
  cp "$src" "$W/bin/$rt"
  PRISTINE[$rt]=$W/bin/$rt
  BIN[$rt]=$W/bin/$rt
  ROOT[$rt]=$(mktemp -d "$W/root-$rt.XXXXXX")
done
echo "host marker for CVE-2024-21626 checks" >"$MARKER"

# Base config: the bundle's config.json, else `davit spec`; root writable, no terminal.
if [ -f "$BASE_BUNDLE/config.json" ]; then
  cp "$BASE_BUNDLE/config.json" "$W/base.json"
else
  mkdir "$W/spec" && (cd "$W/spec" && "${PRISTINE[davit]}" spec) || die "davit spec failed"
  mv "$W/spec/config.json" "$W/base.json"
fi
jq '.root.readonly = false | .process.terminal = false | .hostname = "iso"' "$W/base.json" \
  >"$W/base.tmp" && mv "$W/base.tmp" "$W/base.json"

SEQ=0
# mkbundle RT TAG: sets ID and B (bundle dir with a fresh rootfs copy, cgroupsPath set).
mkbundle() {
  SEQ=$((SEQ + 1))
  ID="iso$$-$2-$1-$SEQ"
  B=$W/b/$ID
  mkdir -p "$B"
  cp -a "$BASE_BUNDLE/rootfs" "$B/rootfs"
  jq --arg cg "/$CG_PARENT/$ID" '.linux.cgroupsPath = $cg' "$W/base.json" >"$B/config.json"
}
# cfg [jq options] FILTER: edit $B/config.json
cfg() {
  jq "$@" "$B/config.json" >"$B/config.tmp" && mv "$B/config.tmp" "$B/config.json" ||
    die "jq failed on $B/config.json: $*"
}
# rtc RT ARGS...: one runtime call with a timeout, using BIN[RT] and ROOT[RT].
rtc() {
  local rt=$1
  shift
  timeout -k 5 "$T" "${BIN[$rt]}" --root "${ROOT[$rt]}" "$@"
}
# create RT: create $ID from $B; container stdio -> $B/ctr.out, $B/ctr.err (create's stderr too).
create() {
  local rt=$1 pid
  CONTAINERS+=("$rt ${BIN[$rt]} ${ROOT[$rt]} $ID")
  rtc "$rt" create --bundle "$B" "$ID" </dev/null >"$B/ctr.out" 2>"$B/ctr.err"
  local rc=$?
  cp "$B/ctr.err" "$B/create.err"
  CREATE_ERR_SIZE=$(stat -c %s "$B/ctr.err")
  if [ $rc = 0 ]; then
    pid=$(rtc "$rt" state "$ID" 2>/dev/null | jq -r '.pid // empty' 2>/dev/null)
    [ -n "$pid" ] && [ "$pid" != 0 ] && INITS+=("$pid $(proc_starttime "$pid")")
    CPID=$pid
  fi
  return $rc
}
start() { rtc "$1" start "$ID" </dev/null >"$B/start.out" 2>"$B/start.err"; }
status() { rtc "$1" state "$ID" 2>/dev/null | jq -r '.status // empty' 2>/dev/null; }
# wait_stopped RT [SECONDS]
wait_stopped() {
  local s end=$((SECONDS + ${2:-10}))
  while [ $SECONDS -lt $end ]; do
    s=$(status "$1")
    [ "$s" = running ] || [ "$s" = created ] || return 0
    sleep 0.1
  done
  return 1
}
delete() { rtc "$1" delete -f "$ID" >/dev/null 2>&1; }
# run_once RT: create + start + wait for exit + delete. RUN_STAGE = ok|timeout, or the failed
# step (create|start) when it returns 1.
run_once() {
  RUN_STAGE=ok
  if ! create "$1"; then
    RUN_STAGE=create
    delete "$1"
    return 1
  fi
  if ! start "$1"; then
    RUN_STAGE=start
    delete "$1"
    return 1
  fi
  wait_stopped "$1" 10 || RUN_STAGE=timeout
  delete "$1"
  return 0
}
# short_err FILE: the runtime's error message, without log decoration, one line, short.
short_err() {
  local line
  line=$(sed -e 's/\x1b\[[0-9;]*m//g' "$1" 2>/dev/null | grep -v '^[[:space:]]*$' |
    grep -iE 'error|denied|fail|refus|invalid|not |unable|cannot' | tail -n1)
  [ -n "$line" ] || line=$(sed -e 's/\x1b\[[0-9;]*m//g' "$1" 2>/dev/null | grep -v '^[[:space:]]*$' | tail -n1)
  case $line in *'msg="'*) line=${line#*msg=\"} && line=${line%\"*} ;; esac
  line=$(sed -E -e 's/^davit: [^"]*"[^"]*": //' -e 's/^runc (create|run|exec|start) failed: //' \
    -e 's/^unable to start container process: //' -e 's/\\"/"/g' <<<"$line")
  [ -n "$line" ] || line="(no message)"
  [ ${#line} -gt 110 ] && line="${line:0:107}..."
  printf '%s' "$line"
}
# container output written after create returned
ctr_output() {
  { cat "$B/ctr.out"; tail -c +$((CREATE_ERR_SIZE + 1)) "$B/ctr.err"; } 2>/dev/null
}
sha() { sha256sum "$1" | cut -c1-12; }
# errno TEXT: the errno name for a strerror text in TEXT, or TEXT itself
errno() {
  case $1 in
    *"Operation not permitted"*) echo EPERM ;;
    *"Permission denied"*) echo EACCES ;;
    *"Read-only file system"*) echo EROFS ;;
    *"Text file busy"*) echo ETXTBSY ;;
    *"No such file or directory"* | *"no such file"*) echo ENOENT ;;
    *"Not a directory"* | *"not a directory"*) echo ENOTDIR ;;
    *"No such device or address"*) echo ENXIO ;;
    *) echo "$1" ;;
  esac
}
# ranges "3 4 5 7" -> "3-5,7"
ranges() {
  local out="" s="" p="" n
  for n in "$@"; do
    if [ -n "$p" ] && [ "$n" = $((p + 1)) ]; then p=$n; continue; fi
    [ -n "$s" ] && { [ "$s" = "$p" ] && out+="$s," || out+="$s-$p,"; }
    s=$n p=$n
  done
  [ -n "$s" ] && { [ "$s" = "$p" ] && out+="$s" || out+="$s-$p"; }
  printf '%s' "$out"
}

ROWS=()
declare -A CELL
DETAILS=()
row() { ROWS+=("$1"); }
cell() { CELL["$1|$2"]=$3; }
detail() { DETAILS+=("$*"); }
want() { case ",$CASES," in *",$1,"*) return 0 ;; esac; return 1; }

# ---------------------------------------------------------------- case 1
# CVE-2019-5736 (a): the container's process is /proc/self/exe, i.e. the runtime binary.
case1() {
  local name="CVE-2019-5736 (a): process.args [\"/proc/self/exe\"], runtime copy's sha256"
  row "$name"
  for rt in "${RUNTIMES[@]}"; do
    log "case 1: $rt"
    mkdir -p "$W/c1-$rt"
    cp "${PRISTINE[$rt]}" "$W/c1-$rt/$rt"
    BIN[$rt]=$W/c1-$rt/$rt
    local before after out res
    before=$(sha "${BIN[$rt]}")
    mkbundle "$rt" c1
    cfg '.process.args = ["/proc/self/exe"]'
    run_once "$rt"
    after=$(sha "${BIN[$rt]}")
    out=$(ctr_output | grep -v '^[[:space:]]*$' | head -n1)
    out=${out:0:70}
    case $RUN_STAGE in
      create) res="create refused: $(short_err "$B/create.err")" ;;
      start) res="start failed: $(short_err "$B/start.err")" ;;
      timeout) res="container did not exit within 10 s" ;;
      *) res="ran, printed: \"${out:-nothing}\"" ;;
    esac
    if [ "$before" != "$after" ]; then
      res="ESCAPED: copy modified ($before -> $after); $res"
    else
      res="copy untouched ($before); $res"
    fi
    cell "$name" "$rt" "$res"
    detail "case 1 $rt: container output: $(ctr_output | head -c 300 | tr '\n' ' ')"
    BIN[$rt]=${PRISTINE[$rt]}
  done
}

# ---------------------------------------------------------------- case 2
# CVE-2019-5736 (b): a process in the container grabs the runtime's exe during `exec`.
case2() {
  local n1="CVE-2019-5736 (b): container grabs /proc/PID/exe of the runtime during exec, reopens it for writing"
  local n2="CVE-2019-5736 (b), container with CAP_SYS_PTRACE (can open the exe of the runtime's process while it still has all capabilities)"
  row "$n1"
  row "$n2"
  for rt in "${RUNTIMES[@]}"; do
    case2_one "$rt" "$n1" ""
    case2_one "$rt" "$n2" CAP_SYS_PTRACE
  done
}
# case2_one RT ROW EXTRA_CAP
case2_one() {
  local rt=$1 name=$2 cap=$3
  log "case 2: $rt ${cap:-default capabilities}"
  mkdir -p "$W/c2-$rt${cap:+-$cap}"
  BIN[$rt]=$W/c2-$rt${cap:+-$cap}/$rt
  cp "${PRISTINE[$rt]}" "${BIN[$rt]}"
  local before after res i tries=0 execfail=0 found="" result="" control=""
  before=$(sha "${BIN[$rt]}")
  mkbundle "$rt" c2
  install -m 755 "$here/attack-exe.sh" "$B/rootfs/attack.sh"
  # control binary: busybox under another name (argv[0] "sleep" picks the applet)
  mkdir "$B/rootfs/ctl" && cp "$B/rootfs/bin/busybox" "$B/rootfs/ctl/sleep"
  cfg '.process.args = ["/bin/sh", "/attack.sh"]'
  [ -n "$cap" ] && cfg --arg c "$cap" '.process.capabilities |= with_entries(.value += [$c])'
  if ! create "$rt"; then
    res="create refused: $(short_err "$B/create.err")"
  elif ! start "$rt"; then
    res="start failed: $(short_err "$B/start.err")"
  else
    for i in $(seq 1 50); do [ -e "$B/rootfs/started" ] && break; sleep 0.1; done
    for i in $(seq 1 "$EXEC_TRIES"); do
      tries=$i
      rtc "$rt" exec "$ID" /bin/true </dev/null >>"$B/exec.out" 2>>"$B/exec.err" || execfail=$((execfail + 1))
      [ -e "$B/rootfs/found" ] && break
    done
    if [ -e "$B/rootfs/found" ]; then
      for i in $(seq 1 150); do [ -e "$B/rootfs/result" ] && break; sleep 0.1; done
    fi
    found=$(cat "$B/rootfs/found" 2>/dev/null)
    result=$(cat "$B/rootfs/result" 2>/dev/null)
    after=$(sha "${BIN[$rt]}")
    if [ "$before" != "$after" ]; then
      res="ESCAPED: copy modified ($before -> $after) after $tries exec(s); attacker: ${result:-?}"
    elif [ -n "$result" ]; then
      res="blocked: $(errno "${result#*: }") on reopening the grabbed exe (${found#* }) for writing, after $tries exec(s); copy untouched"
      case $result in WRITE-OK*) res="copy untouched, but attacker wrote to its exe fd: $result" ;; esac
    elif [ -n "$found" ]; then
      res="copy untouched; exe grabbed ($found), no write result"
    else
      res="copy untouched; runtime exe never openable from the container in $tries exec(s)"
      # Control: the same attacker against a binary of the rootfs not named busybox.
      local bb_before
      bb_before=$(sha "$B/rootfs/ctl/sleep")
      rtc "$rt" exec "$ID" /ctl/sleep 0.5 </dev/null >/dev/null 2>&1
      for i in $(seq 1 100); do [ -e "$B/rootfs/result" ] && break; sleep 0.1; done
      if [ "$(sha "$B/rootfs/ctl/sleep")" != "$bb_before" ]; then
        control="same attacker rewrote /ctl/sleep run by exec"
      else
        control="attacker control FAILED too ($(cat "$B/rootfs/result" 2>/dev/null))"
      fi
      res+=" [$control]"
    fi
    [ $execfail -gt 0 ] && res+=" ($execfail exec(s) failed: $(short_err "$B/exec.err"))"
  fi
  cell "$name" "$rt" "$res"
  detail "case 2 $rt${cap:+ +$cap}: found='${found}' result='${result}' sha $before -> $(sha "${BIN[$rt]}")${control:+; control: $control}"
  delete "$rt"
  BIN[$rt]=${PRISTINE[$rt]}
}

# ---------------------------------------------------------------- case 3
CWD_SCRIPT='{ echo "cwd=$(readlink /proc/self/cwd)"; echo "pwd=$(pwd)"; ls -a ..; cd ../../../../../../../../../..; echo "top=$(readlink /proc/self/cwd)"; ls -a; } >OUT 2>&1'
# judge_cwd FILE: escaped | outside | inside:<cwd> | none
judge_cwd() {
  local f=$1 c
  [ -s "$f" ] || { echo none; return; }
  if grep -q "${MARKER#/}" "$f"; then echo escaped; return; fi
  c=$(sed -n 's/^cwd=//p' "$f" | head -n1)
  case $c in
    /*) case $c in *unreachable*) echo outside ;; *) echo "inside:$c" ;; esac ;;
    *) echo outside ;;
  esac
}
summarize_cwd() { # prints the cell from the assoc arrays cw_kind/cw_err for N=3..20
  local k n key out="" inside=() outside=() escaped=() none=() ins="" nref=0 order=()
  local -A grp
  for n in $(seq 3 20); do
    k=${cw_kind[$n]}
    case $k in
      refused | startfail)
        nref=$((nref + 1))
        key=${cw_err[$n]}
        [ "$k" = startfail ] && key="at start: $key"
        [ -n "${grp[$key]:-}" ] || order+=("$key")
        grp[$key]+="$n "
        ;;
      escaped) escaped+=("$n") ;;
      outside) outside+=("$n") ;;
      inside:*) inside+=("$n"); ins+=" $n:${k#inside:}" ;;
      *) none+=("$n") ;;
    esac
  done
  [ ${#escaped[@]} -gt 0 ] && out+="ESCAPED (host / listed): N=$(ranges "${escaped[@]}"); "
  [ ${#outside[@]} -gt 0 ] && out+="cwd OUTSIDE root: N=$(ranges "${outside[@]}"); "
  [ ${#inside[@]} -gt 0 ] && out+="ran inside root: N=$(ranges "${inside[@]}"); "
  [ ${#none[@]} -gt 0 ] && out+="ran, no output: N=$(ranges "${none[@]}"); "
  if [ $nref -gt 0 ]; then
    [ $nref = 18 ] && out+="all 18 refused: " || out+="$nref refused: "
    for key in "${order[@]}"; do
      # shellcheck disable=SC2086 # word splitting of the N list is intended
      out+="N=$(ranges ${grp[$key]}) \"$key\", "
    done
    out="${out%, }; "
  fi
  printf '%s' "${out%; }"
  [ -n "$ins" ] && detail "case 3 $CUR_RT $CUR_WHAT: cwd of the runs inside the root:$ins"
}
# dbg_cause FILE: the first error a runtime logged with --debug (the root cause, which davit's
# final message does not carry), else the last error line.
dbg_cause() {
  local line
  line=$(grep -m1 'level=error' "$1" 2>/dev/null)
  [ -n "$line" ] || { short_err "$1"; return; }
  line=$(sed -E -e 's/.*msg="(([^"\\]|\\.)*)".*/\1/' -e 's/\\"/"/g' -e 's/^runc (create|run|exec|start) failed: //' \
    -e 's/^exec failed: //' -e 's/^unable to start container process: //' -e 's/^error during container init: //' \
    -e 's|/proc/self/fd/[0-9]+|/proc/self/fd/N|g' <<<"$line")
  [ ${#line} -gt 90 ] && line="${line:0:87}..."
  printf '%s' "$line"
}
# rtc_dbg RT ARGS...: like rtc, with --debug (logs go to stderr)
rtc_dbg() {
  local rt=$1
  shift
  timeout -k 5 "$T" "${BIN[$rt]}" --root "${ROOT[$rt]}" --debug "$@"
}
# fd_list PID: "N->target " for every fd above 2, O_PATH ones marked
fd_list() {
  local f num fl out=""
  for num in $(ls /proc/"$1"/fd 2>/dev/null | sort -n); do
    f=/proc/$1/fd/$num
    [ "$num" -gt 2 ] 2>/dev/null || continue
    out+="$num->$(readlink "$f")"
    fl=$(awk '/^flags:/ { print $2 }' "/proc/$1/fdinfo/$num" 2>/dev/null)
    # O_PATH is 010000000 (octal)
    [ -n "$fl" ] && [ $((8#$fl & 8#10000000)) != 0 ] && out+="(O_PATH)"
    [ -d "$f" ] && out+="(dir on $(stat -f -c %T "$f" 2>/dev/null))"
    out+=" "
  done
  printf '%s' "${out% }"
}
case3() {
  local n1="CVE-2024-21626: process.cwd /proc/self/fd/N, N=3..20 (create)"
  local n2="CVE-2024-21626: exec --cwd /proc/self/fd/N, N=3..20"
  local n3="fds beyond 0-2 (host's view of /proc/PID/fd): container init, exec'd process"
  row "$n1"
  row "$n2"
  row "$n3"
  local rt n k i
  declare -A cw_kind cw_err
  for rt in "${RUNTIMES[@]}"; do
    CUR_RT=$rt
    log "case 3: $rt create with cwd /proc/self/fd/3..20"
    cw_kind=() cw_err=()
    for n in $(seq 3 20); do
      mkbundle "$rt" c3
      cfg --arg n "$n" --arg s "${CWD_SCRIPT//OUT//out}" \
        '.process.cwd = "/proc/self/fd/\($n)" | .process.args = ["/bin/sh", "-c", $s]'
      if run_once "$rt"; then
        [ "$RUN_STAGE" = timeout ] && detail "case 3 $rt N=$n: container did not exit in 10 s"
        cw_kind[$n]=$(judge_cwd "$B/rootfs/out")
      else
        if [ "$RUN_STAGE" = create ]; then
          cw_kind[$n]=refused
          # once more with --debug, for the root cause
          rtc_dbg "$rt" create --bundle "$B" "$ID" </dev/null >/dev/null 2>"$B/dbg.err"
          delete "$rt"
          cw_err[$n]=$(dbg_cause "$B/dbg.err")
          [ $n = 3 ] && detail "case 3 $rt create N=3: error without --debug: $(short_err "$B/create.err")"
        else
          cw_kind[$n]=startfail cw_err[$n]=$(short_err "$B/start.err")
        fi
      fi
      [ "${cw_kind[$n]}" = escaped ] && detail "case 3 $rt N=$n create: $(head -c 400 "$B/rootfs/out" | tr '\n' ' ')"
      rm -rf --one-file-system "$B"
    done
    CUR_WHAT=create
    cell "$n1" "$rt" "$(summarize_cwd)"

    log "case 3: $rt exec --cwd /proc/self/fd/3..20"
    mkbundle "$rt" c3x
    cfg '.process.args = ["/bin/sleep", "1000"]'
    local created_fds=""
    create "$rt" && created_fds=$(fd_list "$CPID")
    if [ -z "$CPID" ] || ! start "$rt"; then
      cell "$n2" "$rt" "long-running container failed: $(short_err "$B/ctr.err") $(short_err "$B/start.err")"
      cell "$n3" "$rt" "n/a"
      delete "$rt"
      continue
    fi
    local fds
    # list the fds once the runtime's init has executed the container's process
    for i in $(seq 1 50); do
      [ "$(readlink "/proc/$CPID/exe")" = "$B/rootfs/bin/busybox" ] && break
      sleep 0.1
    done
    fds=$(fd_list "$CPID")
    # The exec'd process: what does it hold beyond stdio?
    # (ls is a child of the sh, so the listing is the sh's table, without ls's own dir fd)
    rtc "$rt" exec "$ID" /bin/sh -c 'ls -l /proc/$$/fd' </dev/null >"$B/fds.out" 2>"$B/fds.err"
    local xfds
    xfds=$(awk '{ for (i = 1; i < NF; i++) if ($i == "->" && $(i - 1) > 2) printf "%s->%s ", $(i - 1), $(i + 1) }' "$B/fds.out")
    cell "$n3" "$rt" "running init: ${fds:-none}; exec'd sh: ${xfds:-none}; init while created (runtime code, before start): ${created_fds:-none}"
    detail "case 3 $rt: host view of /proc/$CPID/fd: $(ls -l /proc/"$CPID"/fd 2>&1 | awk 'NR > 1 { print $9, $10, $11 }' | tr '\n' ';')"
    cw_kind=() cw_err=()
    for n in $(seq 3 20); do
      rm -f "$B/rootfs/xout"
      if rtc "$rt" exec --cwd "/proc/self/fd/$n" "$ID" /bin/sh -c "${CWD_SCRIPT//OUT//xout}" \
        </dev/null >"$B/x.out" 2>"$B/x.err"; then
        cw_kind[$n]=$(judge_cwd "$B/rootfs/xout")
      else
        if [ -s "$B/rootfs/xout" ]; then
          cw_kind[$n]=$(judge_cwd "$B/rootfs/xout")
        else
          cw_kind[$n]=refused
          rtc_dbg "$rt" exec --cwd "/proc/self/fd/$n" "$ID" /bin/true </dev/null >/dev/null 2>"$B/xdbg.err"
          cw_err[$n]=$(dbg_cause "$B/xdbg.err")
          [ $n = 3 ] && detail "case 3 $rt exec N=3: error without --debug: $(short_err "$B/x.err")"
        fi
      fi
      [ "${cw_kind[$n]}" = escaped ] && detail "case 3 $rt N=$n exec: $(head -c 400 "$B/rootfs/xout" | tr '\n' ' ')"
    done
    CUR_WHAT="exec"
    cell "$n2" "$rt" "$(summarize_cwd)"
    [ "$(status "$rt")" = running ] || detail "case 3 $rt: long-running container no longer running after the execs"
    delete "$rt"
  done
}

# ---------------------------------------------------------------- case 4
host_mounts() { findmnt -rn -o TARGET,FSTYPE | sort; }
case4() {
  local name="symlinks at mount destinations: tmpfs at /etc-link (-> /etc), bind at /rootlink/davit-iso-escape (rootlink -> /)"
  row "$name"
  if [ -e /davit-iso-escape ]; then
    for rt in "${RUNTIMES[@]}"; do cell "$name" "$rt" "skipped: /davit-iso-escape already exists on the host"; done
    return
  fi
  local etc_before
  etc_before=$(findmnt -rn -o TARGET,FSTYPE /etc)
  for rt in "${RUNTIMES[@]}"; do
    log "case 4: $rt"
    mkbundle "$rt" c4
    ln -s /etc "$B/rootfs/etc-link"
    ln -s / "$B/rootfs/rootlink"
    mkdir "$B/hostdir"
    echo "bind source" >"$B/hostdir/bind-src-marker"
    cfg --arg src "$B/hostdir" '.mounts += [
        {"destination": "/etc-link", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "size=1m"]},
        {"destination": "/rootlink/davit-iso-escape", "type": "bind", "source": $src, "options": ["rbind", "rw"]}]
      | .process.args = ["/bin/sh", "-c",
        "cat /proc/self/mountinfo >/mi; { [ -L /etc-link ] && echo etc-link-still-symlink; [ -e /etc/passwd ] && echo etc-passwd-visible; [ -e /davit-iso-escape/bind-src-marker ] && echo bind-at-/davit-iso-escape; } >/chk 2>&1"]'
    local hm_before new host="" seen="" res
    hm_before=$(host_mounts)
    local created=0
    create "$rt" && created=1
    # Host side, right after create (the mounts are done by then).
    new=$(comm -13 <(echo "$hm_before") <(host_mounts))
    if [ "$(findmnt -rn -o TARGET,FSTYPE /etc)" != "$etc_before" ]; then
      host+="ESCAPED: host /etc is now a mount ($(findmnt -rn -o FSTYPE /etc)); "
      findmnt -rn -o FSTYPE /etc | grep -qx tmpfs && { umount /etc && host+="(unmounted) "; }
    fi
    if [ -e /davit-iso-escape ]; then
      ESCAPE_DIR_CREATED=1
      host+="ESCAPED: /davit-iso-escape created on the host"
      if mountpoint -q /davit-iso-escape; then
        host+=" and mounted"
        HOST_MOUNTS_CREATED+=(/davit-iso-escape)
        umount /davit-iso-escape
      fi
      rmdir /davit-iso-escape 2>/dev/null
      host+="; "
    fi
    [ -n "$new" ] && detail "case 4 $rt: new host mounts after create: $(tr '\n' ';' <<<"$new")"
    if [ $created = 1 ]; then
      if ! start "$rt"; then
        res="start failed: $(short_err "$B/start.err")"
      else
        wait_stopped "$rt" 10
        if [ -s "$B/rootfs/mi" ]; then
          # mountinfo: field 5 = mount point; the fs type follows the " - " separator
          local etc_fs esc_fs
          etc_fs=$(awk '$5 == "/etc" { for (i = 7; i <= NF; i++) if ($i == "-") { print $(i + 1); break } }' "$B/rootfs/mi" | tail -n1)
          esc_fs=$(awk '$5 == "/davit-iso-escape" { print "yes" }' "$B/rootfs/mi" | tail -n1)
          [ -n "$etc_fs" ] && seen+="tmpfs on the container's /etc ($etc_fs)" || seen+="no mount on the container's /etc"
          if grep -q bind-at-/davit-iso-escape "$B/rootfs/chk"; then
            seen+=", bind on the container's /davit-iso-escape"
          elif [ -n "$esc_fs" ]; then
            seen+=", a mount on /davit-iso-escape without the source's files"
          else
            seen+=", bind not in the container"
          fi
          grep -q etc-link-still-symlink "$B/rootfs/chk" || seen+=", /etc-link no longer a symlink"
          detail "case 4 $rt: container mounts: $(awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { printf "%s(%s) ", $5, $(i + 1); break } }' "$B/rootfs/mi")"
        else
          seen+="container wrote no mountinfo: $(short_err "$B/ctr.err")"
        fi
        res="$seen"
      fi
    else
      res="create refused: $(short_err "$B/create.err")"
    fi
    # A second look at the host after the container ran.
    if [ -e /davit-iso-escape ]; then
      ESCAPE_DIR_CREATED=1
      host+="ESCAPED: /davit-iso-escape on the host after start; "
      mountpoint -q /davit-iso-escape && { HOST_MOUNTS_CREATED+=(/davit-iso-escape); umount /davit-iso-escape; }
      rmdir /davit-iso-escape 2>/dev/null
    fi
    [ -n "$host" ] || host="host /etc and / untouched; "
    cell "$name" "$rt" "$host$res"
    delete "$rt"
  done
}

# ---------------------------------------------------------------- case 5
host_disk() {
  local mm
  mm=$(findmnt -no MAJ:MIN / 2>/dev/null | tr -d ' ')
  case $mm in 0:* | "") mm=$(lsblk -ndo MAJ:MIN 2>/dev/null | head -n1 | tr -d ' ') ;; esac
  echo "$mm"
}
DOCKER_CAPS='["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID","CAP_FOWNER","CAP_MKNOD","CAP_NET_RAW","CAP_SETGID","CAP_SETUID","CAP_SETFCAP","CAP_SETPCAP","CAP_NET_BIND_SERVICE","CAP_SYS_CHROOT","CAP_KILL","CAP_AUDIT_WRITE"]'
judge_read() { # FILE with lines "mknod=RC <err>" (optional) and "bytes=N" "err=..."
  local f=$1 mk bytes err
  [ -s "$f" ] || { echo "no output: $(short_err "$B/ctr.err")"; return; }
  mk=$(sed -n 's/^mknod=//p' "$f")
  bytes=$(sed -n 's/^bytes=//p' "$f" | tr -d ' ')
  err=$(sed -n 's/^err=//p' "$f" | sed -E 's/^(head|sh): //' | head -n1)
  if [ -n "$mk" ] && [ "${mk%% *}" != 0 ]; then
    echo "blocked: mknod $(errno "${mk#* }")"
  elif [ "${bytes:-0}" -gt 0 ]; then
    echo "ESCAPED: read $bytes bytes of the host disk"
  elif [ -n "$err" ]; then
    echo "blocked: $(errno "$err") on open (device cgroup)"
  else
    echo "blocked: read 0 bytes"
  fi
}
case5() {
  local mm maj min
  mm=$(host_disk)
  maj=${mm%%:*} min=${mm##*:}
  local n1="device: mknod b $mm (host root disk) with CAP_MKNOD, then read 512 bytes"
  local n2="device: host disk $mm in linux.devices, not in linux.resources.devices"
  row "$n1"
  row "$n2"
  if [ -z "$mm" ] || [ "$maj" = 0 ]; then
    for rt in "${RUNTIMES[@]}"; do cell "$n1" "$rt" "skipped: no host block device found"; cell "$n2" "$rt" "skipped"; done
    return
  fi
  for rt in "${RUNTIMES[@]}"; do
    log "case 5: $rt mknod"
    mkbundle "$rt" c5
    cfg --argjson caps "$DOCKER_CAPS" --arg s "mknod /tmp/disk b $maj $min 2>/tmp/mk.err; echo \"mknod=\$? \$(cat /tmp/mk.err)\" >/out; head -c 512 /tmp/disk 2>/tmp/rd.err | wc -c | sed 's/^/bytes=/' >>/out; echo \"err=\$(cat /tmp/rd.err)\" >>/out" \
      '.process.capabilities = {bounding: $caps, effective: $caps, permitted: $caps, inheritable: $caps, ambient: $caps}
       | .process.args = ["/bin/sh", "-c", $s]'
    if run_once "$rt"; then
      cell "$n1" "$rt" "$(judge_read "$B/rootfs/out")"
    else
      cell "$n1" "$rt" "$RUN_STAGE refused: $(short_err "$B/$RUN_STAGE.err")"
    fi
    detail "case 5 $rt mknod: $(tr '\n' ' ' <"$B/rootfs/out" 2>/dev/null)"

    log "case 5: $rt linux.devices"
    mkbundle "$rt" c5d
    cfg --argjson maj "$maj" --argjson min "$min" --arg s "ls -l /dev/hostdisk >/ls 2>&1; head -c 512 /dev/hostdisk 2>/tmp/rd.err | wc -c | sed 's/^/bytes=/' >/out; echo \"err=\$(cat /tmp/rd.err)\" >>/out" \
      '.linux.devices = [{path: "/dev/hostdisk", type: "b", major: $maj, minor: $min, fileMode: 432, uid: 0, gid: 0}]
       | .process.args = ["/bin/sh", "-c", $s]'
    if run_once "$rt"; then
      local r
      r=$(judge_read "$B/rootfs/out")
      grep -q '^b' "$B/rootfs/ls" 2>/dev/null || r="no /dev/hostdisk in the container; $r"
      cell "$n2" "$rt" "$r"
    else
      cell "$n2" "$rt" "$RUN_STAGE refused: $(short_err "$B/$RUN_STAGE.err")"
    fi
    detail "case 5 $rt linux.devices: $(cat "$B/rootfs/ls" 2>/dev/null) $(tr '\n' ' ' <"$B/rootfs/out" 2>/dev/null)"
  done
  detail "case 5: devices cgroup of the runtimes: v1 devices controller $( [ -d /sys/fs/cgroup/devices ] && echo present || echo absent), cgroup2 at $(findmnt -rn -t cgroup2 -o TARGET | head -n1)"
}

# ---------------------------------------------------------------- main
log "work dir $W; davit $(sha "$DAVIT_BIN") ($("${PRISTINE[davit]}" --version 2>/dev/null | head -n1)); runc $("${PRISTINE[runc]}" --version 2>/dev/null | head -n1)"
want 1 && case1
want 2 && case2
want 3 && case3
want 4 && case4
want 5 && case5

esc() { local s=${1//|/\\|}; printf '%s' "${s//$'\n'/ }"; }
echo "| attack | davit | runc |"
echo "|---|---|---|"
for r in "${ROWS[@]}"; do
  echo "| $(esc "$r") | $(esc "${CELL["$r|davit"]:-?}") | $(esc "${CELL["$r|runc"]:-?}") |"
done
echo
echo "davit: $DAVIT_BIN ($("${PRISTINE[davit]}" --version 2>/dev/null | head -n1), sha256 $(sha "${PRISTINE[davit]}")); runc: $RUNC_BIN ($("${PRISTINE[runc]}" --version 2>/dev/null | head -n1)); kernel $(uname -r)"
if [ ${#DETAILS[@]} -gt 0 ]; then
  echo
  echo "Details:"
  for d in "${DETAILS[@]}"; do echo "- $(esc "$d")"; done
fi
