#!/usr/bin/env bash
# The size budget: testbeds/size.sh [TARGET...] prints the size of each built davit (the
# host's and the boards', or only TARGETs) and fails when one is over its line in
# testbeds/size-budget, or missing. setup.sh checks the host's; test.sh, after the ARM build,
# all of them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=env.sh
. "$here/env.sh"
budget="$here/size-budget"

declare -A built=(
  [x86_64-unknown-linux-gnu]="$DAVIT_BIN"
  [aarch64-unknown-linux-gnu]="$DAVIT_CACHE/arm/payload/arm64/davit"
  [armv7-unknown-linux-gnueabihf]="$DAVIT_CACHE/arm/payload/armhf/davit"
)
status=0
printf 'size: %-32s %11s %11s %9s\n' target bytes budget headroom
while read -r target max _; do
  [[ -z "$target" || "$target" == \#* ]] && continue
  if (($#)) && [[ " $* " != *" $target "* ]]; then continue; fi
  bin=${built[$target]:-}
  if [ -z "$bin" ] || [ ! -f "$bin" ]; then
    printf 'size: %-32s %11s %11s   MISSING (%s)\n' "$target" - "$max" "${bin:-no path known}"
    status=1
    continue
  fi
  n=$(stat -c %s "$bin")
  verdict=""
  if ((n > max)); then
    verdict="   OVER BUDGET by $((n - max)) bytes"
    status=1
  fi
  printf 'size: %-32s %11d %11d %9d%s\n' "$target" "$n" "$max" "$((max - n))" "$verdict"
done <"$budget"
if ((status)); then
  echo "size: a binary is over its budget ($budget): shrink it, or raise the line in a reviewed change" >&2
fi
exit "$status"
