#!/usr/bin/env bash
# The update engine's fuzz targets (update/tests/fuzz.rs: proptest on stable Rust) for a
# while, each round with fresh random seeds: the image index, manifest and config, a layer's
# tar stream, gzip and zstd streams, a release's own files. CI runs them bounded (256 cases
# each, in the test stage); this runs them for DURATION seconds (default 3600) and prints
# the executions and the findings (a panic, a hang, a write outside the layer), each with
# proptest's shrunk input, kept in $DAVIT_CACHE/fuzz/.
#   testbeds/fuzz.sh [DURATION]      as root (the unpacker chowns)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"
duration=${1:-3600}
cases=${DAVIT_FUZZ_CASES:-5000}
targets=6
out="$DAVIT_CACHE/fuzz"
mkdir -p "$out"
cd "$here/.." || exit 1
cargo test --release --locked -p update --test fuzz --no-run --quiet || exit 1
start=$SECONDS rounds=0 findings=0
while ((SECONDS - start < duration)); do
  rounds=$((rounds + 1))
  log="$out/round-$rounds.log"
  if DAVIT_FUZZ_CASES=$cases cargo test --release --locked --quiet -p update --test fuzz \
      >"$log" 2>&1; then
    rm -f "$log"
  else
    findings=$((findings + 1))
    echo "fuzz: round $rounds found something: $log"
    grep -E "^---- |minimal failing input|panicked" "$log" | head -20
  fi
done
printf 'fuzz: %d s, %d rounds x %d targets x %d cases = %d executions, %d rounds with findings\n' \
  "$((SECONDS - start))" "$rounds" "$targets" "$cases" "$((rounds * targets * cases))" "$findings"
((findings == 0))
