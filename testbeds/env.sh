# shellcheck shell=bash
# Sourced by the testbed scripts: where builds and downloads live, outside the clone, so CI
# reuses them from run to run while a fresh machine builds them from nothing.
export DAVIT_CACHE="${DAVIT_CACHE:-/var/cache/davit}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$DAVIT_CACHE/target}"
# The product binary: static, x86_64 (the ARM builds are under testbeds/arm/).
export DAVIT_HOST_TARGET=x86_64-unknown-linux-gnu
export DAVIT_BIN="$CARGO_TARGET_DIR/$DAVIT_HOST_TARGET/release/davit"
# This environment sets RUST_BACKTRACE=1, which makes every davit run slower.
unset RUST_BACKTRACE

# davit_apt_install WHO PACKAGE...: installs the Debian packages not yet installed.
davit_apt_install() {
  local who=$1 p missing=()
  shift
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  echo "$who: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}
