#!/usr/bin/env bash
# Installs what davit needs on Debian/Ubuntu (as root), builds the static release binary and
# a busybox bundle for the README's quick start.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"

davit_apt_install setup busybox-static libseccomp-dev libelf-dev zlib1g-dev make pkg-config gcc patch file jq curl runc crun shellcheck
# The supervisor's tests: a private bus (dbus-daemon), clients of its API (dbus-send, busctl),
# callers without privileges (setpriv), apps that speak sd_notify (python3).
davit_apt_install setup dbus-daemon dbus-bin systemd util-linux python3
# The update engine's tests: OCI image layouts as the tools users have write them.
davit_apt_install setup umoci skopeo
command -v cargo >/dev/null || { echo "setup: cargo not found: install Rust >= 1.88 (rustup)" >&2; exit 1; }

"$here/../third_party/prepare.sh"
echo "setup: building davit (release, static) into $CARGO_TARGET_DIR"
CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --release --locked --target "$DAVIT_HOST_TARGET" --manifest-path "$here/../Cargo.toml"
"$here/size.sh" "$DAVIT_HOST_TARGET"

bundle="$DAVIT_CACHE/bundle"
if [ ! -x "$bundle/rootfs/bin/busybox" ]; then
  "$here/rootfs.sh" "$bundle/rootfs"
fi
echo "setup: davit is $DAVIT_BIN; a busybox bundle is in $bundle"
