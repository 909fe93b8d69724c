#!/usr/bin/env bash
# Table 5 of testbeds/bench (run.sh calls it; it also runs alone, as root, after setup.sh):
# the update engine. Images built with umoci from Debian's busybox-static: a base, and apps
# a and b with a 1 MiB layer of their own each (a2: a's next version). Measures
#  - the install time and the installer's peak RSS of a one-app update (a -> a2 -> a ...,
#    each a new release through a running `davit supervise`, confirmed as running, no watch);
#  - the disk use of a and b installed (store and bundles, `du -x`, the overlay roots not
#    crossed) against the same two images pulled into podman's storage (overlay driver);
#  - nothing of docker: its storage needs a daemon of its own (not measured here).
# Writes the table to $BENCH_WORK/install.md (or prints it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../env.sh"
[ "$(id -u)" = 0 ] || { echo "bench: install.sh: run as root" >&2; exit 1; }
davit_apt_install bench umoci podman busybox-static time
davit=${BENCH_DAVIT:-$DAVIT_BIN}
runs=${BENCH_INSTALL_RUNS:-10}
# Lower case: podman names an image pulled from an OCI layout after its path.
work=/tmp/davit-bench-install
# What a run left mounted under DIR (none is no error: grep's status 1 would stop set -e).
unmount_under() {
  findmnt -rn -o TARGET | { grep "^$1/" || true; } | sort -r | xargs -r -n1 umount -l
}
unmount_under "$work"
rm -rf "$work" && mkdir -p "$work"
sup=
cleanup() {
  [ -n "$sup" ] && kill "$sup" 2>/dev/null && wait "$sup" 2>/dev/null
  for c in $("$davit" --root "$work/root" list -q 2>/dev/null); do
    "$davit" --root "$work/root" delete --force "$c" >/dev/null 2>&1 || true
  done
  unmount_under "$work"
  podman --root "$work/podman" --runroot "$work/podman-run" rmi -a -f >/dev/null 2>&1 || true
  unmount_under "$work"
  rm -rf "$work"
}
trap cleanup EXIT

L=$work/images
umoci init --layout "$L"
umoci new --image "$L:base"
umoci unpack --image "$L:base" "$work/b" >/dev/null
mkdir -p "$work/b/rootfs/bin" && cp /bin/busybox "$work/b/rootfs/bin/" && ln -s busybox "$work/b/rootfs/bin/sh"
umoci repack --image "$L:base" "$work/b"
for app in a b a2; do
  rm -rf "$work/u" && umoci unpack --image "$L:base" "$work/u" >/dev/null
  head -c $((1 << 20)) /dev/urandom >"$work/u/rootfs/$app.data"
  umoci repack --image "$L:$app" "$work/u"
  umoci config --image "$L:$app" --config.cmd sh --config.cmd -c \
    --config.cmd "trap 'exit 0' TERM; sleep 100000 & wait"
done

mkdir -p "$work/apps" "$work/state" "$work/root"
"$davit" --root "$work/root" supervise --config-dir "$work/apps" --state-dir "$work/state" \
  --socket "$work/sup.sock" --bus none >"$work/sup.log" 2>&1 &
sup=$!
for _ in $(seq 100); do [ -S "$work/sup.sock" ] && break; sleep 0.05; done
release() { # release VERSION IMAGE_A [IMAGE_B]
  local d=$work/r-$1
  mkdir -p "$d/apps" && ln -sfn "$L" "$d/images"
  printf 'version = "%s"\nwatch = "0s"\n' "$1" >"$d/release.toml"
  printf 'image = "%s"\n' "$2" >"$d/apps/a.toml"
  [ -z "${3:-}" ] || printf 'image = "%s"\n' "$3" >"$d/apps/b.toml"
  echo "$d"
}
rel() { "$davit" release --state-dir "$work/state" --config-dir "$work/apps" --socket "$work/sup.sock" "$@"; }
rel install "$(release 0 a b)" >/dev/null
kb() { du -skx "$@" | awk '{s += $1} END {print s}'; }
davit_kb=$(kb "$work/state/store" "$work/state/installed")
store_kb=$(kb "$work/state/store")

# The one-app update, back and forth: each install stores a2's (or a's) layer anew after
# the previous collection dropped it, as a board updating an app does.
times=() rss=()
for i in $(seq "$runs"); do
  img=a2; [ $((i % 2)) = 0 ] && img=a
  d=$(release "u$i" "$img" b)
  out=$( { /usr/bin/time -f '%e %M' "$davit" release --state-dir "$work/state" --config-dir "$work/apps" \
    --socket "$work/sup.sock" install "$d" >/dev/null; } 2>&1 )
  read -r t m <<<"$(tail -1 <<<"$out")"
  times+=("$t") rss+=("$m")
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
t_med=$(median "${times[@]}") rss_med=$(median "${rss[@]}")
rss_max=$(printf '%s\n' "${rss[@]}" | sort -n | tail -1)

podman_kb=-
pm() { podman --root "$work/podman" --runroot "$work/podman-run" --storage-driver overlay "$@"; }
if pm pull -q "oci:$L:a" >/dev/null 2>"$work/podman.err" &&
  pm pull -q "oci:$L:b" >/dev/null 2>>"$work/podman.err"; then
  podman_kb=$(kb "$work/podman")
else
  echo "bench: install.sh: podman pull failed: $(tail -3 "$work/podman.err")" >&2
fi

table="| measure (x86_64, $(nproc) CPUs) | value |
|---|---|
| one-app update: \`davit release install\` (prepare, switch, confirm running), median of $runs | ${t_med} s |
| its peak RSS (\`/usr/bin/time\` %M), median / max | ${rss_med} / ${rss_max} KiB |
| disk: apps a and b on one busybox base, davit store + bundles (\`du -skx\`) | ${davit_kb} KiB (store ${store_kb} KiB) |
| disk: the same two images in podman's storage (overlay driver) | ${podman_kb} KiB |
| disk: docker | not measured (its storage needs a dockerd of its own) |"
if [ -n "${BENCH_WORK:-}" ]; then printf '%s\n' "$table" >"$BENCH_WORK/install.md"; fi
printf '%s\n' "$table"
