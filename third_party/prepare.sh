#!/usr/bin/env bash
# Materializes the patched crates that Cargo.toml's [patch.crates-io] points at:
#   third_party/prepare.sh
# Each crate's pristine source comes from cargo's download cache or from crates.io, is checked
# against the sha256 that crates.io publishes for it (the one Cargo.lock had before the patch),
# and gets third_party/<crate>/patches/*.patch applied in order, into
# third_party/<crate>/<crate>-<version>/ (ignored by git).
# Idempotent: a crate whose tree matches its patch set is left alone.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

#      crate        version  sha256 of the .crate
crates=(
  "libcontainer 0.7.0 2c28770cf8fb3acca0d168a10f5d9f8333d304af0b2ff5654029822d222d19f0"
  "libcgroups   0.7.0 d85e8f0bca12f0d04fdd8f14858022018cd1667b4f971d6b09058fe90323e19d"
  "oci-spec    0.10.0 3df6f876ad774d6a676f7e968f5c3edacc32f90e65fe680a8b686235396556fb"
  "pathrs       0.2.6 bd74b8fd656302d50059a07147444e46d6c2f162656271cf626e8ff3fad4cce8"
)

prepare() { # prepare CRATE VERSION SHA256
  local crate=$1 version=$2 sha256=$3
  local dir="$here/$crate" dest="$here/$crate/$crate-$version"
  local stamp
  stamp=$( (echo "$sha256"; cat "$dir"/patches/*.patch) | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$dest/.davit-patches" 2>/dev/null)" = "$stamp" ]; then
    return 0
  fi
  command -v patch >/dev/null || { echo "prepare: 'patch' not found (apt-get install patch)" >&2; exit 1; }

  local tmp file=""
  tmp=$(mktemp -d "$dir/.prepare.XXXXXX")
  # shellcheck disable=SC2064  # expand now: the trap outlives this function's locals
  trap "rm -rf '$tmp'" EXIT
  for c in "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/"$crate-$version.crate"; do
    [ -f "$c" ] && file=$c && break
  done
  if [ -z "$file" ]; then
    file="$tmp/$crate-$version.crate"
    echo "prepare: downloading $crate $version from crates.io"
    curl -fsSL --retry 3 -o "$file" "https://static.crates.io/crates/$crate/$crate-$version.crate"
  fi
  if ! echo "$sha256  $file" | sha256sum -c --quiet -; then
    echo "prepare: $file does not match sha256 $sha256" >&2
    exit 1
  fi

  tar -xzf "$file" -C "$tmp"
  local p
  for p in "$dir"/patches/*.patch; do
    if ! patch -s -d "$tmp/$crate-$version" -p1 --no-backup-if-mismatch <"$p"; then
      echo "prepare: $(basename "$p") does not apply to $crate $version" >&2
      exit 1
    fi
  done
  echo "$stamp" >"$tmp/$crate-$version/.davit-patches"
  rm -rf "$dest"
  mv "$tmp/$crate-$version" "$dest"
  rm -rf "$tmp"
  trap - EXIT
  echo "prepare: patched $crate $version in $dest"
}

for line in "${crates[@]}"; do
  # shellcheck disable=SC2086  # split the table row into its three words
  prepare $line
done
