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
# With the test builds' fail points, so that the power-cut tests are linted too.
check clippy cargo clippy --workspace --all-targets --locked --features davit/failpoints -- -D warnings
check clippy-runtime-only cargo clippy -p davit --no-default-features --locked -- -D warnings
mapfile -t scripts < <(find testbeds .ci -type f \( -name '*.sh' -o -path .ci/run \) | sort)
check "shellcheck (${#scripts[@]} scripts)" shellcheck -x "${scripts[@]}"

# Integration tests find leftover processes by a number in their command line (`sleep 31350`)
# while other test binaries run beside them: a number two files share lets one test see the
# other's live process as its own leftover.
shared_markers() {
  local n files bad=0
  while read -r n; do
    files=$(grep -rlE "\b$n\b" tests | sort | tr '\n' ' ')
    if [ "$(wc -w <<<"$files")" -gt 1 ]; then
      echo "lint: marker $n is in more than one test file: $files" >&2
      bad=1
    fi
  done < <(grep -rhoE '\b3[0-9]{4}\b' tests | sort -u)
  return $bad
}
check "test markers unique per file" shared_markers

if ((${#failed[@]})); then
  echo "lint: failed: ${failed[*]}" >&2
  exit 1
fi
