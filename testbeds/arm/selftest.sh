#!/usr/bin/env bash
# End-to-end check of the ARM test bed: toolchain.sh (cross rustc, static
# smoke binaries), kernel.sh, then boot.sh for arm64/armhf x cgroup v2/v1 with
# the smoke binaries as payload and smoke/guest-test.sh as the test.
# Usage: testbeds/arm/selftest.sh [ARCH...]   (default: arm64 armhf)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

arches=("$@")
((${#arches[@]})) || arches=(arm64 armhf)

t0=$SECONDS
"$HERE/toolchain.sh"
t1=$SECONDS
"$HERE/kernel.sh" "${arches[@]}"
t2=$SECONDS

# env.sh must be sourceable by a plain POSIX sh and give a working rustc.
sh -c ". '$ARM_CACHE/env.sh' && \"\$RUSTC\" -V && davit_cross_target armv7 && [ -f \"\$LIBSECCOMP_LIB_PATH/libseccomp.a\" ]" >/dev/null ||
    die "env.sh is broken"

results=()
status=0
for arch in "${arches[@]}"; do
    arch=$(norm_arch "$arch")
    for mode in v2 v1; do
        if line=$("$HERE/boot.sh" "$arch" "$mode" "$ARM_CACHE/smoke/$arch" "$HERE/smoke/guest-test.sh"); then :; else status=1; fi
        results+=("$line")
    done
done

echo "toolchain.sh: $((t1 - t0))s, kernel.sh: $((t2 - t1))s"
printf '%s\n' "${results[@]}"
passed=$(printf '%s\n' "${results[@]}" | grep -c '^PASS' || true)
echo "selftest: $passed passed, $((${#results[@]} - passed)) failed"
exit "$status"
