#!/usr/bin/env bash
# The review CI does before any test: formatting, clippy with warnings as errors (the whole
# binary and the runtime-only build), shellcheck on every testbed script. Prints one line per
# check and fails if any failed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"
cd "$here/.." || exit 1

failed=()
check() {
  local name=$1
  shift
  if "$@"; then echo "lint: $name: ok"; else echo "lint: $name: FAILED" >&2; failed+=("$name"); fi
}
check fmt cargo fmt --all --check
check clippy cargo clippy --workspace --all-targets --locked -- -D warnings
check clippy-runtime-only cargo clippy -p davit --no-default-features --locked -- -D warnings
mapfile -t scripts < <(find testbeds .ci -type f \( -name '*.sh' -o -path .ci/run \) | sort)
check "shellcheck (${#scripts[@]} scripts)" shellcheck -x "${scripts[@]}"

if ((${#failed[@]})); then
  echo "lint: failed: ${failed[*]}" >&2
  exit 1
fi
