#!/usr/bin/env bash
# Where davit's bytes go, per crate, for the boards: size.sh [arm64|armhf ...] (default both).
# Cross-builds the release profile with its symbol table kept (profile "symbols": same code,
# not stripped), twice: the whole binary, and the OCI runtime alone (--no-default-features:
# no supervisor). Attributes every symbol's size to a crate (crates.py) and writes
# $DAVIT_CACHE/size/<arch>-{all,runtime}.json, which report.py turns into table 4 of RESULTS.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../env.sh
. "$here/../env.sh"
arches=("$@")
((${#arches[@]})) || arches=(arm64 armhf)
# build.sh syncs the sources into its work tree, sets up the cross toolchain and builds the
# shipped (stripped) binaries.
"$here/../arm/build.sh" "${arches[@]}"
# shellcheck source=/dev/null # written by toolchain.sh
. "$DAVIT_CACHE/arm/env.sh"
out="$DAVIT_CACHE/size"
mkdir -p "$out"
for arch in "${arches[@]}"; do
  davit_cross_target "$arch"
  t=$CARGO_BUILD_TARGET
  case $arch in arm64) tools=aarch64-linux-gnu ;; armhf) tools=arm-linux-gnueabihf ;; esac
  for variant in all runtime; do
    flags=()
    [ "$variant" = runtime ] && flags=(--no-default-features)
    echo "size: building davit ($variant) for $t with its symbols"
    (cd "$DAVIT_CACHE/arm/work" && cargo build --profile symbols --quiet "${flags[@]}")
    # The stripped size of exactly this build: for "all" it matches the shipped binary.
    "$tools-strip" -o "$out/$arch-$variant.stripped" "$CARGO_TARGET_DIR/$t/symbols/davit"
    python3 "$here/crates.py" --nm "$tools-nm" --stripped "$out/$arch-$variant.stripped" \
      --target "$t" --variant "$variant" "$CARGO_TARGET_DIR/$t/symbols/davit" >"$out/$arch-$variant.json"
    rm -f "$out/$arch-$variant.stripped"
  done
  python3 "$here/crates.py" --table "$out/$arch-all.json"
  echo "size: $t, shipped $(stat -c %s "$DAVIT_CACHE/arm/payload/$arch/davit") bytes"
done
