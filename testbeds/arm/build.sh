#!/usr/bin/env bash
# Cross-builds the static release davit and davit's integration tests for the boards:
#   build.sh [arm64|armhf ...]      (default: both)
# Output: $DAVIT_CACHE/arm/payload/<arch>/{davit,tests/*}, ready for boot.sh.
#
# libcontainer 0.7.0 does not compile for 32-bit targets (it assumes 64-bit rlim_t, st_ino
# and statfs magic). libcontainer-0.7.0-32bit.patch is davit's minimal, upstreamable fix,
# applied to a copy of the registry source; the build runs in a copy of the workspace whose
# Cargo.toml gains a [patch.crates-io] entry, so the repository's Cargo.lock stays untouched.
# Drop the patch when a libcontainer release carries the fix.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
. "$here/../env.sh"
cache="$DAVIT_CACHE/arm"
arches=("$@")
((${#arches[@]})) || arches=(arm64 armhf)

"$here/toolchain.sh" >/dev/null
. "$cache/env.sh"

# The registry source cargo resolved for the host build, patched once per patch version.
patch_file="$here/libcontainer-0.7.0-32bit.patch"
src=$(cargo metadata --locked --format-version 1 --manifest-path "$repo/Cargo.toml" |
  jq -r '.packages[] | select(.name == "libcontainer" and .version == "0.7.0") | .manifest_path' |
  xargs dirname)
patched="$cache/patched/libcontainer-0.7.0"
stamp=$(sha256sum "$patch_file" | cut -d' ' -f1)
if [ "$(cat "$patched/.davit-patch" 2>/dev/null)" != "$stamp" ]; then
  rm -rf "$patched" && mkdir -p "$(dirname "$patched")"
  cp -a "$src" "$patched"
  patch -s -d "$patched" -p1 <"$patch_file"
  echo "$stamp" >"$patched/.davit-patch"
fi

# Files are replaced only when their content changed: cargo fingerprints path crates by mtime,
# and a fresh clone (CI) must not rebuild davit for both targets when nothing changed.
work="$cache/work"
sync_file() { # sync_file SRC DST
  cmp -s "$1" "$2" 2>/dev/null || { mkdir -p "$(dirname "$2")"; cp "$1" "$2"; }
}
mkdir -p "$work"
(cd "$repo" && find Cargo.lock .cargo src runtime tests -type f) | while read -r f; do
  sync_file "$repo/$f" "$work/$f"
done
(cd "$work" && find .cargo src runtime tests -type f) | while read -r f; do
  [ -e "$repo/$f" ] || rm -f "$work/$f"
done
{ cat "$repo/Cargo.toml"; printf '\n[patch.crates-io]\nlibcontainer = { path = "%s" }\n' "$patched"; } >"$work/Cargo.toml.new"
sync_file "$work/Cargo.toml.new" "$work/Cargo.toml"
rm -f "$work/Cargo.toml.new"

for arch in "${arches[@]}"; do
  davit_cross_target "$arch"
  t=$CARGO_BUILD_TARGET
  echo "arm: building davit for $t"
  (cd "$work" && cargo build --release --quiet)
  out="$cache/payload/$arch"
  rm -rf "$out" && mkdir -p "$out/tests"
  cp "$CARGO_TARGET_DIR/$t/release/davit" "$out/davit"
  # The host's integration tests, cross-built: the same assertions run inside the boards.
  # (peers compares with runc, which the boards do not have.)
  (cd "$work" && cargo test --release --no-run --quiet --message-format json \
      --test lifecycle --test limits --test errors --test console) |
    jq -r 'select(.reason == "compiler-artifact" and .profile.test == true) | .executable' |
    while read -r exe; do
      name=$(basename "$exe"); cp "$exe" "$out/tests/${name%-*}"
    done
  printf 'arm: %-32s %9s bytes  %s\n' "$t" "$(stat -c %s "$out/davit")" \
    "$(file -b "$out/davit" | grep -o 'statically linked' || echo 'NOT STATIC')"
done
