#!/usr/bin/env bash
# davit's test command (as root, after testbeds/setup.sh): the conformance suite and the real
# clients (podman, containerd) against the release binary, the ARM boards in qemu (aarch64 and
# armv7, cgroup v2 and v1, running the integration tests cross-built), then every unit and
# integration test here, which start real containers. Between them, the size budget
# (size.sh) of the host's and the boards' binaries.
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
"$here/conformance/run.sh" --check --runtime "$DAVIT_BIN" || failed+=(conformance)
"$here/clients/run.sh" "$DAVIT_BIN" || failed+=(clients)
"$here/arm/run.sh" || failed+=(arm)
"$here/size.sh" || failed+=(size)

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast --manifest-path "$here/../Cargo.toml" \
    || failed+=(tests)
else
  cargo test --workspace --locked --no-fail-fast --manifest-path "$here/../Cargo.toml" \
    || failed+=(tests)
fi
if ((${#failed[@]})); then
  echo "test: failed: ${failed[*]}" >&2
  exit 1
fi
