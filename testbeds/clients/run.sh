#!/usr/bin/env bash
# Drives davit through its real clients, as a user would: containerd's runc shim
# (`ctr run --runc-binary`) and podman (`--runtime`). Everything is private: a containerd of its
# own on a socket in a temporary directory, podman with its own storage; nothing touches the
# host's. Prints one line per check and a closing "N passed, M failed" line.
#   run.sh [DAVIT_BINARY]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../env.sh"
davit=${1:-$DAVIT_BIN}
[ -x "$davit" ] || { echo "clients: $davit not built: run testbeds/setup.sh" >&2; exit 2; }

davit_apt_install clients containerd podman

work=$(mktemp -d /tmp/davit-clients.XXXXXX)
pass=0 fail=0
check() { # check NAME EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then pass=$((pass + 1)); echo "PASS  $1"
  else fail=$((fail + 1)); echo "FAIL  $1: expected [$2], got [$3]"; fi
}
cleanup() {
  [ -n "${ctrd_pid:-}" ] && kill "$ctrd_pid" 2>/dev/null && wait "$ctrd_pid" 2>/dev/null
  podman "${P[@]}" rm -af >/dev/null 2>&1
  umount -R "$work"/podman/root/overlay 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# One image, from the same busybox rootfs the tests use.
"$here/../rootfs.sh" "$work/rootfs" >/dev/null
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
P=(--root "$work/podman/root" --runroot "$work/podman/run" --storage-driver vfs
   --cgroup-manager cgroupfs --events-backend file --runtime "$davit")
# Podman's default RLIMIT_NOFILE is above this host's hard limit: runc and crun need the same.
limits=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
podman "${P[@]}" import -q "$work/rootfs.tar" localhost/davit-busybox:test >/dev/null

echo "== podman --runtime davit"
out=$(podman "${P[@]}" run --rm "${limits[@]}" localhost/davit-busybox:test sh -c 'echo hi-$HOSTNAME; exit 3')
check "podman run: exit code" 3 "$?"
case $out in hi-*) check "podman run: output" ok ok ;; *) check "podman run: output" "hi-..." "$out" ;; esac
podman "${P[@]}" run -d --name p1 "${limits[@]}" localhost/davit-busybox:test sleep 1000 >/dev/null
check "podman run -d: running" running "$(podman "${P[@]}" inspect -f '{{.State.Status}}' p1)"
check "podman exec" exec-ok "$(podman "${P[@]}" exec p1 echo exec-ok)"
podman "${P[@]}" pause p1 >/dev/null
check "podman pause" paused "$(podman "${P[@]}" inspect -f '{{.State.Status}}' p1)"
podman "${P[@]}" unpause p1 >/dev/null
check "podman unpause" running "$(podman "${P[@]}" inspect -f '{{.State.Status}}' p1)"
podman "${P[@]}" stop -t 1 p1 >/dev/null
check "podman stop" exited "$(podman "${P[@]}" inspect -f '{{.State.Status}}' p1)"
podman "${P[@]}" rm p1 >/dev/null
check "podman rm" 0 "$(podman "${P[@]}" ps -aq | wc -l)"

echo "== containerd (io.containerd.runc.v2 shim, runc binary = davit)"
mkdir -p "$work/ctrd"
cat >"$work/ctrd/config.toml" <<CONF
version = 2
root = "$work/ctrd/root"
state = "$work/ctrd/state"
[grpc]
  address = "$work/ctrd/sock"
CONF
containerd --config "$work/ctrd/config.toml" >"$work/ctrd/log" 2>&1 &
ctrd_pid=$!
C=(ctr -a "$work/ctrd/sock")
for _ in $(seq 100); do "${C[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done
podman "${P[@]}" save -q --format oci-archive -o "$work/image.tar" localhost/davit-busybox:test
"${C[@]}" image import --base-name localhost/davit-busybox "$work/image.tar" >/dev/null
img=localhost/davit-busybox:test
R=(--runtime io.containerd.runc.v2 --runc-binary "$davit")
out=$("${C[@]}" run --rm "${R[@]}" "$img" c1 sh -c 'echo hi-ctr; exit 4')
check "ctr run: exit code" 4 "$?"
check "ctr run: output" hi-ctr "$out"
"${C[@]}" run -d "${R[@]}" "$img" c2 sleep 1000 >/dev/null
check "ctr run -d: running" RUNNING "$("${C[@]}" task ls | awk '$1=="c2"{print $3}')"
check "ctr task exec" exec-ok "$("${C[@]}" task exec --exec-id e1 c2 echo exec-ok)"
"${C[@]}" task pause c2
check "ctr task pause" PAUSED "$("${C[@]}" task ls | awk '$1=="c2"{print $3}')"
"${C[@]}" task resume c2
"${C[@]}" task kill -s KILL c2
for _ in $(seq 100); do [ "$("${C[@]}" task ls | awk '$1=="c2"{print $3}')" = STOPPED ] && break; sleep 0.1; done
check "ctr task kill" STOPPED "$("${C[@]}" task ls | awk '$1=="c2"{print $3}')"
"${C[@]}" task rm c2 >/dev/null
"${C[@]}" container rm c2
check "ctr container rm" "" "$("${C[@]}" container ls -q)"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
