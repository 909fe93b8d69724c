#!/usr/bin/env bash
# Tables 2 and 3, run by run.sh inside the same kind of private mount namespace as lifecycle.sh
# (`unshare --mount --propagation private`, the hybrid layout's cgroup2 mount hidden): crun
# needs it for table 2, and every peer (davit's daemon, containerd, dockerd, podman) runs fine
# in it, so all of them see one layout, and every mount they make dies with the namespace.
#   2. start latency: `davit app start` vs `crun|runc run -d` vs `ctr|podman|docker run -d`
#      (startlatency.py, round-robin);
#   3. management memory with idle busybox apps: davit's daemon + launcher (1, 10, 50 apps),
#      podman's conmons, containerd + shims, dockerd + containerd + shims (memory.py).
# Needs BENCH_WORK (with rootfs/ and config.json from run.sh), BENCH_DAVIT; knobs
# BENCH_START_ROUNDS (60), BENCH_SETTLE (2 s), BENCH_MEM_APPS ("1 10 50": davit's app counts),
# BENCH_PEER_APPS (10: podman's, containerd's, docker's). Everything it starts (daemons,
# containers, shims, conmons, cgroups) is gone when it exits, also on failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${BENCH_WORK:?} davit=${BENCH_DAVIT:?}
settle=${BENCH_SETTLE:-2}
read -r -a mem_apps <<<"${BENCH_MEM_APPS:-1 10 50}"
peer_apps=${BENCH_PEER_APPS:-10}
sw="$work/sup"        # this script's files: bundles, daemons' state, logs, samples
cgp="davit-bench2"     # cgroup parent of every container started here (all controllers)
img=localhost/davit-busybox:bench
py=/usr/bin/python3
export BENCH_SUP="$sw" BENCH_CGROUP_PARENT="$cgp" BENCH_IMAGE="$img"
rm -rf "$sw" && mkdir -p "$sw"
: >"$work/memory.jsonl"
log() { echo "supervisor.sh: [${SECONDS}s] $*"; }

# ---- the same layout as lifecycle.sh: hide the hybrid layout's cgroup2 mount (crun) ----
unified=/sys/fs/cgroup/unified
if [ "$(stat -f -c %T "$unified" 2>/dev/null)" = cgroup2fs ] && [ -e /sys/fs/cgroup/pids/cgroup.procs ]; then
  # Not 4k as in lifecycle.sh: crun (podman's runtime) still makes its cgroup directory and
  # writes cgroup.procs in there, a page per container, and table 3 runs 10 of them at once.
  mount -t tmpfs -o size=1m,mode=755 bench-hide-unified "$unified"
fi
cg_mount=$(awk '$3 == "cgroup" || $3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
export BENCH_WARM_CG="$cg_mount/davit-bench2-warm"
mkdir -p "$BENCH_WARM_CG"

# ---- the clients, each with private state under $sw (nothing of the host's is used) ----
C=(ctr -a "$sw/ctrd/sock")
D=(/usr/bin/docker -H "unix://$sw/docker.sock")   # the client of docker.io's dockerd, same version
P=(podman --root "$sw/podman/root" --runroot "$sw/podman/run" --tmpdir "$sw/podman/tmp"
   --network-config-dir "$sw/podman/net" --storage-driver overlay --cgroup-manager cgroupfs
   --events-backend file)
# Podman's default RLIMIT_NOFILE is above this host's hard limit (as in testbeds/clients/run.sh).
P_RUN=(--network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
export BENCH_CTR="${C[*]}" BENCH_DOCKER="${D[*]}" BENCH_PODMAN="${P[*]}" BENCH_PODMAN_RUN="${P_RUN[*]}"
mkdir -p "$sw/ctrd" "$sw/docker" "$sw/podman/net" "$sw/podman/tmp"
cat >"$sw/ctrd.toml" <<CONF
version = 2
root = "$sw/ctrd/root"
state = "$sw/ctrd/state"
[grpc]
  address = "$sw/ctrd/sock"
[ttrpc]
  address = "$sw/ctrd/sock.ttrpc"
CONF
# dockerd keeps its trust key in /etc/docker unless told otherwise.
printf '{"deprecated-key-path": "%s"}\n' "$sw/docker/key.json" >"$sw/docker/daemon.json"
[ -e /run/docker ] && run_docker_existed=1 || run_docker_existed=0

alive() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null) || return 1; [[ $s != Z* ]]; }
# stop_pid PID SECONDS: SIGTERM, a bounded wait, then SIGKILL.
stop_pid() {
  local pid=$1 i
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || return 0
  for ((i = 0; i < $2 * 20; i++)); do alive "$pid" || break; sleep 0.05; done
  alive "$pid" && { log "pid $pid ignored SIGTERM for $2 s: SIGKILL"; kill -9 "$pid" 2>/dev/null; }
  wait "$pid" 2>/dev/null || true
}
# until_ok SECONDS CMD...: runs CMD every 0.1 s until it succeeds.
until_ok() {
  local t=$1 i
  shift
  for ((i = 0; i < t * 10; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "supervisor.sh: timed out after $t s: $*" >&2
  return 1
}

ctrd_pid="" dockerd_pid="" davitd_pid=""
ctrd_start() {
  containerd --config "$sw/ctrd.toml" >>"$sw/containerd.log" 2>&1 &
  ctrd_pid=$!
  until_ok 20 "${C[@]}" version
}
# Deletes every task and container of both namespaces (ctr's and docker's), then containerd.
ctrd_stop() {
  [ -n "$ctrd_pid" ] || return 0
  local ns id
  for ns in default moby; do
    for id in $("${C[@]}" -n "$ns" containers ls -q 2>/dev/null); do
      "${C[@]}" -n "$ns" tasks rm -f "$id" >/dev/null 2>&1 || true
      "${C[@]}" -n "$ns" containers rm "$id" >/dev/null 2>&1 || true
    done
  done
  stop_pid "$ctrd_pid" 20
  ctrd_pid=""
}
dockerd_start() {
  dockerd -H "unix://$sw/docker.sock" --config-file "$sw/docker/daemon.json" \
    --data-root "$sw/docker/root" --exec-root "$sw/docker/run" --pidfile "$sw/docker/pid" \
    --containerd "$sw/ctrd/sock" --bridge none --iptables=false --ip-masq=false \
    >>"$sw/dockerd.log" 2>&1 &
  dockerd_pid=$!
  until_ok 30 "${D[@]}" version
}
dockerd_stop() {
  [ -n "$dockerd_pid" ] || return 0
  local ids
  ids=$("${D[@]}" ps -aq 2>/dev/null || true)
  # shellcheck disable=SC2086 # one id per word
  [ -z "$ids" ] || "${D[@]}" rm -f $ids >/dev/null 2>&1 || true
  stop_pid "$dockerd_pid" 30
  dockerd_pid=""
}
podman_rm_all() { timeout 120 "${P[@]}" rm -af -t 0 >/dev/null 2>&1 || true; }
# davitd_start DIR: a daemon on the app files of DIR/apps, its state, root and socket in DIR.
davitd_start() {
  local d=$1
  "$davit" --root "$d/root" supervise --config-dir "$d/apps" --state-dir "$d/state" \
    --socket "$d/sock" --bus none >>"$d/daemon.log" 2>&1 &
  davitd_pid=$!
  davitd_dir=$d
  until_ok 20 "$davit" app --socket "$d/sock" list
}
# SIGTERM: the daemon stops its apps (stop_signal SIGKILL: at once) and exits.
davitd_stop() {
  [ -n "$davitd_pid" ] || return 0
  stop_pid "$davitd_pid" 60
  davitd_pid=""
  local id
  for id in $("$davit" --root "$davitd_dir/root" list 2>/dev/null | awk 'NR > 1 { print $1 }'); do
    log "the daemon left container $id: deleting it"
    "$davit" --root "$davitd_dir/root" delete --force "$id" || true
  done
}

cleanup() {
  local rc=$? pid p
  set +e
  davitd_stop
  [ -n "$dockerd_pid" ] && dockerd_stop
  [ -d "$sw/podman/root" ] && podman_rm_all
  for rt in crun runc; do
    "$rt" --root "$sw/$rt" delete --force bench >/dev/null 2>&1
  done
  ctrd_stop
  # Anything still alive that this script started: a shim or conmon of ours (its command line
  # names $sw), then container processes left in our cgroups. By pid, never by name alone.
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    case $(tr '\0' ' ' 2>/dev/null <"$p/cmdline") in
      *containerd-shim*"$sw"* | *conmon*"$sw"* | *"$davit"*supervise*"$sw"*)
        log "killing leftover $pid: $(tr '\0' ' ' 2>/dev/null <"$p/cmdline" | cut -c1-100)"
        kill -9 "$pid" 2>/dev/null ;;
    esac
  done
  for f in /sys/fs/cgroup/*/"$cgp"/ /sys/fs/cgroup/"$cgp"/; do
    [ -d "$f" ] || continue
    find "$f" -name cgroup.procs -exec cat {} + 2>/dev/null | while read -r pid; do
      log "killing leftover container process $pid"
      kill -9 "$pid" 2>/dev/null
    done
  done
  sleep 0.2
  # Mounts of the stores (overlays, shm) live in this namespace only; unmount them before the
  # stores are deleted. Deepest first.
  awk -v sw="$sw" 'index($2, sw) == 1 { print $2 }' /proc/self/mounts | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null; done
  for d in /sys/fs/cgroup/*/"$cgp" /sys/fs/cgroup/"$cgp" /sys/fs/cgroup/*/davit-bench2-warm \
    /sys/fs/cgroup/davit-bench2-warm; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  [ "$run_docker_existed" = 0 ] && rm -rf /run/docker
  rm -rf "$sw/podman" "$sw/docker/root" "$sw/docker/run" "$sw/ctrd/root" "$sw/ctrd/state" \
    "$sw/crun" "$sw/runc"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- bundles and app files ----
# bundle DIR CGROUP: the lifecycle bundles' config.json, running `sleep 1000`.
bundle() {
  mkdir -p "$1"
  jq --arg cg "$2" --arg root "$work/rootfs" \
    '.process.args = ["sleep", "1000"] | .process.terminal = false | .root.path = $root
     | .root.readonly = true | .linux.cgroupsPath = $cg' "$work/config.json" >"$1/config.json"
}
# app DIR NAME ENABLED: an app file and its bundle (cgroup /$cgp/<DIR's name>/NAME).
# stop_signal SIGKILL: `sleep` as a pid namespace's init ignores SIGTERM, and a stop between
# two timed starts should not wait out a grace period.
app() {
  local d=$1 name=$2 enabled=$3
  bundle "$d/bundles/$name" "/$cgp/$(basename "$d")/$name"
  mkdir -p "$d/apps"
  printf 'bundle = "%s"\nenabled = %s\nstop_signal = "SIGKILL"\n' \
    "$d/bundles/$name" "$enabled" >"$d/apps/$name.toml"
}

# ---- one image for podman, containerd and docker, from the same rootfs (offline) ----
log "importing the busybox rootfs as $img (podman, containerd, docker)"
tar -C "$work/rootfs" -cf "$sw/rootfs.tar" .
"${P[@]}" import -q "$sw/rootfs.tar" "$img" >/dev/null
"${P[@]}" save -q --format oci-archive -o "$sw/image.tar" "$img"
ctrd_start
"${C[@]}" images import --base-name localhost/davit-busybox "$sw/image.tar" >/dev/null
dockerd_start
"${D[@]}" import "$sw/rootfs.tar" "$img" >/dev/null
dockerd_stop
ctrd_stop

# ---- table 3: management memory, each manager alone, freshly started ----
sample() { "$py" "$here/memory.py" sample "$@"; }
wait_apps() { "$py" "$here/memory.py" wait "$@"; }
for n in "${mem_apps[@]}"; do
  d="$sw/mem-davit$n"
  for ((i = 0; i < n; i++)); do app "$d" "a$i" true; done
  apps_word=apps; [ "$n" = 1 ] && apps_word=app
  log "table 3: davit's daemon with $n $apps_word"
  davitd_start "$d"
  wait_apps "/$cgp/mem-davit$n" "$n" 120 --davit-sock "$d/sock"
  sleep "$settle"
  sample --label "davit, $n $apps_word" --apps "$n" --kind davit --mark "$d/state"
  davitd_stop
done

log "table 3: podman, $peer_apps containers (conmons)"
for ((i = 0; i < peer_apps; i++)); do
  "${P[@]}" run -d --name "m$i" "${P_RUN[@]}" --cgroup-parent "/$cgp/mem-podman" "$img" sleep 1000 >/dev/null
done
wait_apps "/$cgp/mem-podman" "$peer_apps" 60
sleep "$settle"
sample --label "podman, $peer_apps containers" --apps "$peer_apps" --kind podman --mark "$sw/podman/root"
podman_rm_all

log "table 3: containerd, $peer_apps containers (ctr run -d)"
ctrd_start
for ((i = 0; i < peer_apps; i++)); do
  "${C[@]}" run -d --cgroup "/$cgp/mem-ctr/m$i" "$img" "m$i" sleep 1000 >/dev/null
done
wait_apps "/$cgp/mem-ctr" "$peer_apps" 60
sleep "$settle"
sample --label "containerd, $peer_apps containers" --apps "$peer_apps" --kind containerd --mark "$sw/ctrd"
ctrd_stop

log "table 3: docker, $peer_apps containers"
ctrd_start
dockerd_start
for ((i = 0; i < peer_apps; i++)); do
  "${D[@]}" run -d --name "m$i" --network none --cgroup-parent "/$cgp/mem-docker" "$img" sleep 1000 >/dev/null
done
wait_apps "/$cgp/mem-docker" "$peer_apps" 60
sleep "$settle"
sample --label "docker, $peer_apps containers" --apps "$peer_apps" --kind docker --mark "$sw/ctrd" \
  --docker-mark "$sw/docker.sock"
dockerd_stop
ctrd_stop

# ---- table 2: start latency, all six interleaved; every daemon up for the whole loop ----
log "table 2: start latency"
d="$sw/start-davit"
app "$d" t2 false
for rt in crun runc; do bundle "$sw/bundle-start-$rt" "/$cgp/start-$rt"; done
mkdir -p "$sw/crun" "$sw/runc"
ctrd_start
dockerd_start
davitd_start "$d"
export BENCH_DAVITD_SOCK="$d/sock"
"$py" "$here/startlatency.py"
log "done"
