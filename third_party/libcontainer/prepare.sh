#!/usr/bin/env bash
# Materializes the patched libcontainer 0.7.0 that Cargo.toml's [patch.crates-io] points at:
#   third_party/libcontainer/prepare.sh
# The pristine crate comes from cargo's download cache or from crates.io, is checked against
# the sha256 that crates.io publishes for it, and gets patches/*.patch applied in order.
# Idempotent: it does nothing while the patched tree matches the patch set.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=0.7.0
sha256=2c28770cf8fb3acca0d168a10f5d9f8333d304af0b2ff5654029822d222d19f0
dest="$here/libcontainer-$version"

stamp=$( (echo "$sha256"; cat "$here"/patches/*.patch) | sha256sum | cut -d' ' -f1)
if [ "$(cat "$dest/.davit-patches" 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi
command -v patch >/dev/null || { echo "prepare: 'patch' not found (apt-get install patch)" >&2; exit 1; }

crate=""
for c in "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/"libcontainer-$version.crate"; do
  [ -f "$c" ] && crate=$c && break
done
tmp=$(mktemp -d "$here/.prepare.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if [ -z "$crate" ]; then
  crate="$tmp/libcontainer-$version.crate"
  echo "prepare: downloading libcontainer $version from crates.io"
  curl -fsSL --retry 3 -o "$crate" "https://static.crates.io/crates/libcontainer/libcontainer-$version.crate"
fi
if ! echo "$sha256  $crate" | sha256sum -c --quiet -; then
  echo "prepare: $crate does not match sha256 $sha256" >&2
  exit 1
fi

tar -xzf "$crate" -C "$tmp"
for p in "$here"/patches/*.patch; do
  if ! patch -s -d "$tmp/libcontainer-$version" -p1 --no-backup-if-mismatch <"$p"; then
    echo "prepare: $(basename "$p") does not apply to libcontainer $version" >&2
    exit 1
  fi
done
echo "$stamp" >"$tmp/libcontainer-$version/.davit-patches"
rm -rf "$dest"
mv "$tmp/libcontainer-$version" "$dest"
echo "prepare: patched libcontainer $version in $dest"
