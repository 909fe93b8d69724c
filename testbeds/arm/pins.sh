#!/usr/bin/env bash
# The pin file of the ARM test bed (testbeds/arm/pins): every .deb that
# toolchain.sh and kernel.sh fetch with the private APT, with its exact
# version, sha256, suite and pool path.  Those scripts never choose versions;
# this one does, when asked, so that moving to new versions is a reviewed change.
#
# Usage: testbeds/arm/pins.sh [--check]   compare the pins with what --update would pin
#                                         now (exit 0 same, 1 different)
#        testbeds/arm/pins.sh --update    resolve the newest versions (the policy is
#                                         resolve_debs in lib.sh), download them, check
#                                         each against a signed index, rewrite the pin
#                                         file and print its diff: review it, commit it
# Env:   DAVIT_ARM_PINS            the pin file (default testbeds/arm/pins)
#        DAVIT_ARM_ALLOW_UNSIGNED=1 pin a .deb even if no signed index vouches for its
#                                  sha256 (the line says so in its VERIFIED column)
#        DAVIT_APT_REFRESH=0       use the private lists if less than a day old
#                                  (default here: refresh them)
#        DAVIT_CACHE, DAVIT_ARM_KEYRING: as for toolchain.sh
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mode=${1:---check}
case $mode in
    --check | --update) ;;
    *) echo "usage: $0 [--check|--update]" >&2; exit 64 ;;
esac
[[ $(id -u) == 0 ]] || die "run as root (private APT in $ARM_CACHE)"
cache_lock
need_cmds gpgv xz dpkg-deb
export DAVIT_APT_REFRESH=${DAVIT_APT_REFRESH:-1}

# fetch_for_pin PKG ARCH VERSION -> "SHA256 SUITE VERIFIED FILENAME"; the .deb
# is left in $DEB_DIR (so the next toolchain.sh / kernel.sh finds it cached).
#
# Listed in the private APT's indexes (which apt only loads when their Release
# is signed by the archive key, see apt_priv): the SHA256 of that entry.
# Otherwise (the index for ARCH failed to load, see apt_priv_update) the URL is
# derived from the same package for another architecture (same pool directory,
# same version), and the SHA256 taken from the suite's Packages.xz for ARCH,
# fetched by hand: "signed" only if InRelease verifies with gpgv against the
# archive keyring and Packages.xz matches its SHA256 there.  Anything less fails,
# unless DAVIT_ARM_ALLOW_UNSIGNED=1 (then VERIFIED is unsigned-index or none).
fetch_for_pin() {
    local pkg=$1 arch=$2 ver=$3 name uri_line url hash suite base filename
    name=$(deb_name "$pkg" "$ver" "$arch")
    if uri_line=$(apt_priv apt-get download --print-uris "$pkg:$arch=$ver" 2>/dev/null) && [[ -n $uri_line ]]; then
        read -r url _ _ hash <<<"$uri_line"
        url=${url//\'/}
        hash=${hash#SHA256:}
        base=${url%%/pool/*}
        filename=pool/${url#*/pool/}
        filename=$(printf '%b' "${filename//%/\\x}") # apt's URL quoting (%2b, %7e) undone
        # The suite whose index has this version from this archive.
        suite=$(apt_priv apt-cache madison "$pkg:$arch" | awk -F' [|] ' -v v="$ver" -v b="$base" '
            { gsub(/ /, "", $2); split($3, w, " "); sub(/\/+$/, "", w[1]) }
            $2 == v && w[1] == b { split(w[2], s, "/"); print s[1]; exit }')
        [[ -n $suite ]] || die "cannot find the suite of $pkg:$arch=$ver"
        download_checked "$url" "$name" "$hash" "$pkg" "$ver" "$arch"
        echo "$hash $suite signed $filename"
        return 0
    fi
    local ref="" a line comp keyring method=none tmp
    for a in "${PRIV_ARCHES[@]}"; do
        [[ $a == "$arch" ]] && continue
        line=$(apt_priv apt-get download --print-uris "$pkg:$a=$ver" 2>/dev/null) || continue
        [[ -n $line ]] && { ref=$a; break; }
    done
    [[ -n $ref ]] || die "$pkg=$ver is known for no architecture; cannot derive its URL for $arch"
    url=$(awk '{ gsub(/\047/, "", $1); print $1 }' <<<"$line")
    url=${url%_"$ref".deb}_$arch.deb
    base=${url%%/pool/*}
    filename=pool/${url#*/pool/}
    filename=$(printf '%b' "${filename//%/\\x}")
    line=$(apt_priv apt-cache madison "$pkg:$ref" | awk -F' [|] ' -v v="$ver" '{ gsub(/ /, "", $2) } $2 == v { print $3; exit }')
    suite=$(awk '{ split($2, s, "/"); print s[1] }' <<<"$line")
    comp=$(awk '{ split($2, s, "/"); print s[2] }' <<<"$line")
    [[ -n $suite && -n $comp ]] || die "cannot find the suite of $pkg:$ref=$ver"
    keyring=$(host_debian_sources | awk -F'\t' -v u="$base" -v s="$suite" '($1 == u || $1 == u "/") && $2 == s { print $4; exit }')
    keyring=${keyring:-/usr/share/keyrings/debian-archive-keyring.gpg}
    tmp=$(mktemp -d "$APT_DIR/manual.XXXXXX")
    log "$pkg:$arch=$ver: the $arch index of $suite is not loaded; checking it by hand (URL derived from $ref)"
    local why="" idx_hash idx_got
    hash=""
    if ! /usr/lib/apt/apt-helper download-file "$base/dists/$suite/InRelease" "$tmp/InRelease" >/dev/null 2>&1; then
        why="$base/dists/$suite/InRelease could not be downloaded"
    elif ! gpgv --keyring "$keyring" --output "$tmp/Release" "$tmp/InRelease" >/dev/null 2>&1; then
        why="$base/dists/$suite/InRelease has no valid signature by $keyring"
    fi
    # The Packages.xz entry; "signed" only if the file is the one the verified Release lists.
    if /usr/lib/apt/apt-helper download-file "$base/dists/$suite/$comp/binary-$arch/Packages.xz" "$tmp/Packages.xz" >/dev/null 2>&1; then
        idx_got=$(sha256_of "$tmp/Packages.xz")
        hash=$(xz -dc "$tmp/Packages.xz" 2>/dev/null | awk -v p="$pkg" -v v="$ver" '
            /^Package: / { pk = $2 } /^Version: / { vv = $2 } /^SHA256: / { sh = $2 }
            /^$/ { if (pk == p && vv == v) { print sh; exit } pk = vv = sh = "" }
            END { if (pk == p && vv == v) print sh }' | head -n1)
        if [[ -z $why ]]; then
            idx_hash=$(awk -v f="$comp/binary-$arch/Packages.xz" '/^SHA256:/ { s = 1; next } /^[^ ]/ { s = 0 } s && $3 == f { print $1; exit }' "$tmp/Release")
            if [[ $idx_got != "$idx_hash" ]]; then
                why="the served $suite/$comp/binary-$arch/Packages.xz (sha256 $idx_got) is not the one the signed InRelease lists (${idx_hash:-none})"
            elif [[ -z $hash ]]; then
                why="$pkg=$ver is not in the signed $suite/$comp/binary-$arch/Packages.xz"
            fi
        fi
        if [[ -n $hash ]]; then [[ -z $why ]] && method=signed || method=unsigned-index; fi
    else
        why=${why:-"$base/dists/$suite/$comp/binary-$arch/Packages.xz could not be downloaded"}
    fi
    rm -rf "$tmp"
    if [[ $method != signed ]]; then
        allow_unsigned || die "$pkg:$arch=$ver cannot be verified against a signed index: $why. Refusing to pin it; DAVIT_ARM_ALLOW_UNSIGNED=1 $PINS_UPDATE_CMD pins it anyway, marked '$method' in the pin file"
        log "WARNING: $pkg:$arch=$ver: $why; pinned as '$method' (DAVIT_ARM_ALLOW_UNSIGNED=1)"
    fi
    download_checked "$url" "$name" "$hash" "$pkg" "$ver" "$arch"
    [[ -n $hash ]] || hash=$(sha256_of "$DEB_DIR/$name")
    echo "$hash $suite $method $filename"
}

# download_checked URL NAME SHA256|"" PKG VER ARCH: into $DEB_DIR/NAME unless it is
# there with that sha256; checks the sha256 (if given) and the control fields.
download_checked() {
    local url=$1 name=$2 hash=$3 got tmp
    if [[ -n $hash && -f $DEB_DIR/$name && $(sha256_of "$DEB_DIR/$name") == "$hash" ]]; then
        return 0
    fi
    mkdir -p "$DEB_DIR"
    tmp=$(mktemp -d "$DEB_DIR/.fetch.XXXXXX")
    log "download $url"
    /usr/lib/apt/apt-helper download-file "$url" "$tmp/$name" >/dev/null || die "download of $url failed"
    got=$(sha256_of "$tmp/$name")
    [[ -z $hash || $got == "$hash" ]] || die "sha256 mismatch for $url: $got, the index says $hash"
    check_control "$tmp/$name" "$4" "$5" "$6"
    mv "$tmp/$name" "$DEB_DIR/$name"
    rm -rf "$tmp"
}

# Align the columns of pin lines (stdin) to fixed widths, so that an update's
# diff shows only the lines that changed.
align() {
    awk 'BEGIN { split("28 6 24 64 18 8 15", w, " ") }
        { l = ""; for (i = 1; i < NF; i++) l = l sprintf("%-" w[i] "s ", $i); print l $NF }'
}

resolved=$(resolve_debs)

if [[ $mode == --check ]]; then
    [[ -f $ARM_PINS ]] || die "no pin file $ARM_PINS (write it with $PINS_UPDATE_CMD)"
    pinned=$(pins_list "" "" | awk '{ print $6, $1, $2, $3 }' | sort)
    fresh=$(sort <<<"$resolved")
    if [[ $pinned == "$fresh" ]]; then
        log "pins up to date: the mirror's newest are the $(wc -l <<<"$pinned") pinned .debs ($ARM_PINS)"
        exit 0
    fi
    log "the mirror has moved on from the pins (- pinned, + what $PINS_UPDATE_CMD would pin):"
    diff <(echo "$pinned") <(echo "$fresh") | sed -n 's/^</  -/p; s/^>/  +/p' >&2 || true
    exit 1
fi

new=$(mktemp)
trap 'rm -f "$new"' EXIT
{
    cat <<HDR
# Pinned .debs of the ARM test bed: written by testbeds/arm/pins.sh --update on $(date -u +%F),
# read by toolchain.sh and kernel.sh, which fetch exactly these files and check their sha256
# before unpacking (see "Pins" in testbeds/arm/README.md).  Do not edit by hand; review the
# diff of an update like code.
# VERIFIED: signed = the sha256 is that of a Packages index whose hash is in a Release signed
# by the archive key; unsigned-index / none = pinned with DAVIT_ARM_ALLOW_UNSIGNED=1.
# FILENAME: pool path below the suite's archive URI, tried when the index no longer lists it.
HDR
    {
        echo "#PACKAGE ARCH VERSION SHA256 SUITE GROUP VERIFIED FILENAME"
        while read -r group pkg arch ver; do
            got=$(fetch_for_pin "$pkg" "$arch" "$ver") || exit 1
            read -r hash suite verified filename <<<"$got"
            [[ -n $filename ]] || die "could not pin $pkg:$arch=$ver"
            echo "$pkg $arch $ver $hash $suite $group $verified $filename"
        done <<<"$resolved"
    } | align
} >"$new"
# Every line must parse (same checks as the readers).
DAVIT_ARM_PINS=$new ARM_PINS=$new pins_list "" "" >/dev/null
# Changed unless only the header's date differs.
changed=0
if [[ -f $ARM_PINS ]]; then
    changed=$({ diff -u "$ARM_PINS" "$new" || true; } | grep -v '^[-+]# Pinned .debs' | grep -c '^[-+][^-+]' || true)
fi
if ((changed)); then
    diff -u "$ARM_PINS" "$new" >&2 || true
    cp "$new" "$ARM_PINS"
    log "pins changed: $ARM_PINS -- review the diff above and commit it"
elif [[ -f $ARM_PINS ]]; then
    log "pins unchanged ($ARM_PINS)"
else
    cp "$new" "$ARM_PINS"
    log "pins written: $ARM_PINS ($(grep -vc '^#' "$new") .debs)"
fi
