#!/usr/bin/env bash
# Cross-builds the static release davit and davit's integration tests for the boards:
#   build.sh [arm64|armhf ...]      (default: both)
# Output: $DAVIT_CACHE/arm/payload/<arch>/{davit,tests/*}, ready for boot.sh.
#
# libcontainer and libcgroups 0.7.0 do not compile for 32-bit targets; the fixes are among the
# patches in third_party/, which the host build uses too.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../env.sh
. "$here/../env.sh"
cache="$DAVIT_CACHE/arm"
arches=("$@")
((${#arches[@]})) || arches=(arm64 armhf)

"$here/toolchain.sh" >/dev/null
# shellcheck source=/dev/null # written by toolchain.sh
. "$cache/env.sh"

"$repo/third_party/prepare.sh"

# Files are replaced only when their content changed: cargo fingerprints path crates by mtime,
# and a fresh clone (CI) must not rebuild davit for both targets when nothing changed.
work="$cache/work"
sync_file() { # sync_file SRC DST
  cmp -s "$1" "$2" 2>/dev/null || { mkdir -p "$(dirname "$2")"; cp "$1" "$2"; }
}
mkdir -p "$work"
(cd "$repo" && find Cargo.toml Cargo.lock .cargo src runtime seccomp-profiles supervisor update tests third_party testbeds/isolation/attack-exe.sh -type f) | while read -r f; do
  sync_file "$repo/$f" "$work/$f"
done
(cd "$work" && find .cargo src runtime seccomp-profiles supervisor update tests third_party -type f) | while read -r f; do
  [ -e "$repo/$f" ] || rm -f "$work/$f"
done

for arch in "${arches[@]}"; do
  davit_cross_target "$arch"
  t=$CARGO_BUILD_TARGET
  echo "arm: building davit for $t"
  (cd "$work" && cargo build --release --quiet)
  out="$cache/payload/$arch"
  rm -rf "$out" && mkdir -p "$out/tests"
  cp "$CARGO_TARGET_DIR/$t/release/davit" "$out/davit"
  # The host's integration tests, cross-built: the same assertions run inside the boards.
  # (peers compares with runc, which the boards do not have.) Also seccomp-profiles' unit
  # tests: davit's own filter is compiled differently on armv7; and the update engine's
  # hostile layers and tampered store (library tests that need no host tool).
  (cd "$work" && cargo test --release --no-run --quiet --message-format json \
      --test lifecycle --test limits --test errors --test console --test isolation --test seccomp \
      --test concurrency --test lifecycle_safety --test cli &&
    cargo test --release --no-run --quiet --message-format json -p seccomp-profiles --lib &&
    cargo test --release --no-run --quiet --message-format json -p update --test unpack \
      --test store) |
    jq -r 'select(.reason == "compiler-artifact" and .profile.test == true) | .executable' |
    while read -r exe; do
      name=$(basename "$exe"); cp "$exe" "$out/tests/${name%-*}"
    done
  printf 'arm: %-32s %9s bytes  %s\n' "$t" "$(stat -c %s "$out/davit")" \
    "$(file -b "$out/davit" | grep -o 'statically linked' || echo 'NOT STATIC')"
done
