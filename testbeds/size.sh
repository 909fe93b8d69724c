#!/usr/bin/env bash
# Prints the size of the release binary (stripped, opt-level z, lto, panic=abort).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"
bin=${1:-$DAVIT_BIN}
[ -f "$bin" ] || { echo "size: $bin not built: run testbeds/setup.sh" >&2; exit 1; }
bytes=$(stat -c %s "$bin")
printf 'davit size: %s bytes (%s MiB), %s\n' "$bytes" \
  "$(awk -v b="$bytes" 'BEGIN{printf "%.2f", b/1048576}')" "$(file -b "$bin" | cut -d, -f1-2,5)"
