#!/usr/bin/env bash
# davit's test command (as root, after testbeds/setup.sh): lint (fmt, clippy, shellcheck);
# against the release binary the conformance suite, crun's own test suite and the real clients
# (podman, containerd); the ARM boards in qemu (aarch64 and armv7, cgroup v2 and v1, running
# the integration tests cross-built); the size budget (size.sh) of the host's and the boards'
# binaries; the integration tests against the static release binary; then every unit and
# integration test against cargo's debug build. Each stage prints its duration.
# The test runner's summary is the last thing printed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"
[ "$(id -u)" = 0 ] || { echo "test: run as root: the tests start real containers" >&2; exit 1; }

# Containers a killed earlier run left in the tests' cgroups would confuse its checks.
for cg in /sys/fs/cgroup/*/davit-test/*/ /sys/fs/cgroup/davit-test/*/; do
  [ -d "$cg" ] || continue
  xargs -r kill -9 <"$cg/cgroup.procs" 2>/dev/null
  rmdir "$cg" 2>/dev/null
done

failed=()
# Runs one stage, timed; a failed stage fails the run at the end, after every other stage.
stage() {
  local name=$1 t0=$SECONDS
  shift
  if "$@"; then
    echo "test: $name: passed in $((SECONDS - t0)) s"
  else
    echo "test: $name: FAILED in $((SECONDS - t0)) s" >&2
    failed+=("$name")
  fi
}
stage lint "$here/lint.sh"
stage conformance-harness "$here/conformance/selftest.sh"
stage conformance "$here/conformance/run.sh" --check --runtime "$DAVIT_BIN"
stage crun-suite "$here/crun-suite/run.sh" --check --runtime "$DAVIT_BIN"
stage clients "$here/clients/run.sh" "$DAVIT_BIN"
stage arm "$here/arm/run.sh"
stage size "$here/size.sh"

# The test build has the update engine's fail points (tests/supervisor/release.rs stops
# installs dead at each journaled step with them); the shipped binary has none.
if cargo nextest --version >/dev/null 2>&1; then
  tests=(cargo nextest run --workspace --locked --no-fail-fast --features davit/failpoints
    --manifest-path "$here/../Cargo.toml")
  integration=(-E 'kind(test)')
else
  tests=(cargo test --workspace --locked --no-fail-fast --features davit/failpoints
    --manifest-path "$here/../Cargo.toml")
  integration=(--tests)
fi
# The integration tests once against what ships, the static release binary, then every test
# against cargo's debug build of the same tree.
stage release-binary env DAVIT_TEST_BIN="$DAVIT_BIN" "${tests[@]}" "${integration[@]}"
echo "test: $SECONDS s so far; every test against the debug build follows"
"${tests[@]}" || failed+=(tests)
if ((${#failed[@]})); then
  echo "test: failed: ${failed[*]}" >&2
  exit 1
fi
