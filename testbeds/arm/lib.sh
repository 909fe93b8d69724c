# shellcheck shell=bash
# Shared helpers for the ARM test bed scripts (sourced, not executed).
#
# Everything downloaded lives under ${DAVIT_CACHE:-/var/cache/davit}/arm.
# Debian packages for foreign architectures are fetched with a *private* APT
# configuration (own sources, lists, cache and empty dpkg status), so the
# host's dpkg architectures and package state are never changed.

# shellcheck disable=SC2034 # used by the scripts that source this file
ARM_TB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ARM_CACHE=${DAVIT_CACHE:-/var/cache/davit}/arm
APT_DIR=$ARM_CACHE/apt
DEB_DIR=$ARM_CACHE/debs
VERIFY_LOG=$ARM_CACHE/verify.tsv
# Architectures the private APT knows about (host first).
PRIV_ARCHES=(amd64 arm64 armhf)

log() { printf '[arm-testbed] %s\n' "$*" >&2; }
die() { printf '[arm-testbed] ERROR: %s\n' "$*" >&2; exit 1; }

# Serialize the scripts that write the shared cache (toolchain.sh, kernel.sh).
cache_lock() {
    mkdir -p "$ARM_CACHE"
    exec 9>"$ARM_CACHE/.lock"
    flock 9
}

need_cmds() {
    local c missing=()
    for c in "$@"; do command -v "$c" >/dev/null 2>&1 || missing+=("$c"); done
    ((${#missing[@]} == 0)) || die "missing commands: ${missing[*]} (run testbeds/arm/toolchain.sh first)"
}

# Install host packages with the host's normal apt (only what is missing).
host_apt_install() {
    local p missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return 0
    [[ $(id -u) == 0 ]] || die "need root to apt-get install: ${missing[*]}"
    log "apt-get install ${missing[*]}"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"; then
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
    fi
}

# ---------------------------------------------------------------------------
# Private APT
# ---------------------------------------------------------------------------

# apt_priv apt-get|apt-cache ARGS...  (the binary caches are set on the command
# line because host apt.conf.d snippets, read after APT_CONFIG, may disable them)
apt_priv() {
    local tool=$1
    shift
    APT_CONFIG=$APT_DIR/apt.conf "$tool" -o "Dir::Cache::pkgcache=$APT_DIR/cache/pkgcache.bin" \
        -o "Dir::Cache::srcpkgcache=" "$@"
}

# Print "URI<TAB>SUITE<TAB>COMPONENTS<TAB>SIGNED-BY" for every Debian archive
# entry (URI path ending in /debian or /debian-security) of the host's sources,
# deb822 (*.sources) and one-line (sources.list, *.list) formats alike.
host_debian_sources() {
    local f
    shopt -s nullglob
    for f in /etc/apt/sources.list.d/*.sources; do
        awk 'BEGIN { RS = ""; FS = "\n" }
        {
            types = ""; uris = ""; suites = ""; comps = ""; key = ""; enabled = "yes"
            for (i = 1; i <= NF; i++) {
                line = $i
                if (line ~ /^#/) continue
                split(line, kv, ":"); k = tolower(kv[1]); v = line; sub(/^[^:]*:[ \t]*/, "", v)
                if (k == "types") types = v
                else if (k == "uris") uris = v
                else if (k == "suites") suites = v
                else if (k == "components") comps = v
                else if (k == "signed-by") key = v
                else if (k == "enabled") enabled = tolower(v)
            }
            if (enabled == "no" || types !~ /(^|[ \t])deb([ \t]|$)/) next
            nu = split(uris, U, /[ \t]+/); ns = split(suites, S, /[ \t]+/)
            for (a = 1; a <= nu; a++) for (b = 1; b <= ns; b++)
                if (U[a] ~ /\/debian(-security)?\/?$/) printf "%s\t%s\t%s\t%s\n", U[a], S[b], comps, key
        }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f $f ]] || continue
        awk '$1 == "deb" {
            key = ""; i = 2
            if ($2 ~ /^\[/) {
                while (i <= NF) { if ($i ~ /^signed-by=/) { key = $i; sub(/^signed-by=/, "", key); sub(/\]$/, "", key) }
                                  if ($i ~ /\]$/) { i++; break } ; i++ }
            }
            uri = $i; suite = $(i + 1); comps = ""
            for (j = i + 2; j <= NF; j++) comps = comps (comps == "" ? "" : " ") $j
            if (uri ~ /\/debian(-security)?\/?$/) printf "%s\t%s\t%s\t%s\n", uri, suite, comps, key
        }' "$f"
    done
    shopt -u nullglob
}

# Write the private sources: one stanza per (URI, suite), all PRIV_ARCHES
# except the "SUITE ARCH" pairs listed in $APT_DIR/excluded-arches.
write_priv_sources() {
    local uri suite comps key arches a out=$APT_DIR/sources.list.d/debian.sources
    : >"$out.new"
    while IFS=$'\t' read -r uri suite comps key; do
        arches=()
        for a in "${PRIV_ARCHES[@]}"; do
            grep -qxF "$suite $a" "$APT_DIR/excluded-arches" 2>/dev/null || arches+=("$a")
        done
        {
            echo "Types: deb"
            echo "URIs: $uri"
            echo "Suites: $suite"
            echo "Components: ${comps:-main}"
            echo "Architectures: ${arches[*]}"
            [[ -n $key ]] && echo "Signed-By: $key"
            echo
        } >>"$out.new"
    done < <(host_debian_sources | sort -u)
    [[ -s $out.new ]] || die "no Debian archive found in the host's APT sources"
    mv "$out.new" "$out"
}

apt_priv_setup() {
    mkdir -p "$APT_DIR"/{state/lists/partial,cache/archives/partial,sources.list.d,preferences.d} "$DEB_DIR"
    touch "$APT_DIR/state/status" "$APT_DIR/excluded-arches"
    # Host apt.conf.d snippets (proxies, Check-Valid-Until, ...) still apply;
    # everything that would touch host state is redirected here.
    cat >"$APT_DIR/apt.conf" <<EOF
Dir::State "$APT_DIR/state";
Dir::State::status "$APT_DIR/state/status";
Dir::Cache "$APT_DIR/cache";
Dir::Etc::SourceList "/dev/null";
Dir::Etc::SourceParts "$APT_DIR/sources.list.d";
Dir::Etc::Preferences "/dev/null";
Dir::Etc::PreferencesParts "$APT_DIR/preferences.d";
APT::Architecture "amd64";
APT::Architectures { "amd64"; "arm64"; "armhf"; };
APT::Sandbox::User "root";
Acquire::Languages "none";
Acquire::IndexTargets::deb::DEP-11::DefaultEnabled "false";
Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled "false";
Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled "false";
EOF
}

# Refresh the private package lists (at most once per DAVIT_APT_MAX_AGE
# seconds, default 1 day; DAVIT_APT_REFRESH=1 forces).  If the mirror serves
# a broken index for some (suite, arch) -- seen: bookworm-security armhf,
# "File has unexpected size" -- apt drops the whole suite, so that arch is
# excluded for that suite and the update retried; packages missing because of
# that are fetched by fetch_deb's manual path.
apt_priv_update() {
    apt_priv_setup
    local stamp=$APT_DIR/updated max_age=${DAVIT_APT_MAX_AGE:-86400}
    if [[ ${DAVIT_APT_REFRESH:-0} != 1 && -f $stamp ]] &&
        (($(date +%s) - $(stat -c %Y "$stamp") < max_age)); then
        return 0
    fi
    : >"$APT_DIR/excluded-arches"
    local try out rc suite arch
    for try in 1 2 3; do
        write_priv_sources
        log "private apt-get update (try $try)"
        rc=0
        out=$(apt_priv apt-get update 2>&1) || rc=$?
        if ((rc == 0)) && ! grep -q '^E: ' <<<"$out"; then
            date -u +%FT%TZ >"$stamp"
            if [[ -s $APT_DIR/excluded-arches ]]; then
                log "index excluded (broken on the mirror): $(tr '\n' ';' <"$APT_DIR/excluded-arches")"
            fi
            return 0
        fi
        local new=0
        while read -r suite arch; do
            [[ -n $suite ]] || continue
            if ! grep -qxF "$suite $arch" "$APT_DIR/excluded-arches"; then
                echo "$suite $arch" >>"$APT_DIR/excluded-arches"
                new=1
                log "index for $suite/$arch failed to load; excluding it"
            fi
        done < <(sed -n 's#^E: Failed to fetch .*/dists/\([^/]*\)/.*/binary-\([a-z0-9]*\)/.*#\1 \2#p' <<<"$out" | sort -u)
        ((new)) || { printf '%s\n' "$out" >&2; die "private apt-get update failed"; }
    done
    printf '%s\n' "$out" >&2
    die "private apt-get update failed"
}

# Candidate version of PKG:ARCH in the private lists (empty if unknown).
priv_candidate() {
    apt_priv apt-cache policy "$1:$2" 2>/dev/null | awk '/Candidate:/ { if ($2 != "(none)") print $2; exit }'
}

# Deb file name as apt-get download writes it (epoch ':' -> '%3a').
deb_name() { printf '%s_%s_%s.deb' "$1" "${2//:/%3a}" "$3"; }

record_verify() { # pkg arch version sha256 method
    mkdir -p "$ARM_CACHE"
    touch "$VERIFY_LOG"
    grep -v -F "$(printf '%s\t%s\t%s\t' "$1" "$2" "$3")" "$VERIFY_LOG" >"$VERIFY_LOG.new" || true
    printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$VERIFY_LOG.new"
    mv "$VERIFY_LOG.new" "$VERIFY_LOG"
}

# fetch_deb PKG ARCH VERSION -> prints the path of the verified .deb.
#
# Normal path: apt-get download with the private APT; apt checks the file
# against the SHA256 of a Packages index whose hash is in a Release file
# signed by the archive key (Signed-By of the host's sources).
#
# Manual path, when PKG:ARCH=VERSION is not in the private lists because the
# index for ARCH failed to load (see apt_priv_update): the URL is derived from
# the same package for another architecture (same pool directory, same
# version).  Verification, recorded in verify.tsv:
#   signed-index      InRelease verified with gpgv against the archive keyring,
#                     Packages.xz matches its SHA256, deb matches the entry.
#   unauthenticated-index  the served Packages.xz does NOT match the signed
#                     InRelease (stale mirror copy), but the deb's SHA256
#                     matches the entry for exactly this version in it.
#   none              no index entry; only the checks below.
# In all manual cases the deb's control fields (Package, Version,
# Architecture) are checked and, after unpacking, its md5sums (unpack_deb).
# DAVIT_REQUIRE_SIGNED=1 makes anything below signed-index fatal.
fetch_deb() {
    local pkg=$1 arch=$2 ver=$3 name uri_line url hash
    name=$(deb_name "$pkg" "$ver" "$arch")
    if [[ -f $DEB_DIR/$name ]] && grep -qF "$(printf '%s\t%s\t%s\t' "$pkg" "$arch" "$ver")" "$VERIFY_LOG" 2>/dev/null; then
        local want
        want=$(awk -F'\t' -v p="$pkg" -v a="$arch" -v v="$ver" '$1==p && $2==a && $3==v { print $4 }' "$VERIFY_LOG")
        if [[ $(sha256sum <"$DEB_DIR/$name" | cut -d' ' -f1) == "$want" ]]; then
            echo "$DEB_DIR/$name"
            return 0
        fi
    fi
    if uri_line=$(apt_priv apt-get download --print-uris "$pkg:$arch=$ver" 2>/dev/null) && [[ -n $uri_line ]]; then
        read -r url name _ hash <<<"$uri_line"
        hash=${hash#SHA256:}
        log "download $pkg:$arch=$ver (apt, signed index)"
        (cd "$DEB_DIR" && apt_priv apt-get download -q "$pkg:$arch=$ver" >/dev/null) ||
            die "apt-get download $pkg:$arch=$ver failed"
        [[ $(sha256sum <"$DEB_DIR/$name" | cut -d' ' -f1) == "$hash" ]] || die "sha256 mismatch for $name"
        record_verify "$pkg" "$arch" "$ver" "$hash" signed-index
        echo "$DEB_DIR/$name"
        return 0
    fi
    fetch_deb_manual "$pkg" "$arch" "$ver"
}

fetch_deb_manual() {
    local pkg=$1 arch=$2 ver=$3 ref="" a line url name base suite comp keyring method=none want=""
    for a in "${PRIV_ARCHES[@]}"; do
        [[ $a == "$arch" ]] && continue
        line=$(apt_priv apt-get download --print-uris "$pkg:$a=$ver" 2>/dev/null) || continue
        [[ -n $line ]] && { ref=$a; break; }
    done
    [[ -n $ref ]] || die "$pkg=$ver is known for no architecture; cannot derive its URL for $arch"
    url=$(awk '{ gsub(/\047/, "", $1); print $1 }' <<<"$line")
    url=${url%_"$ref".deb}_$arch.deb
    base=${url%%/pool/*}
    # Suite of the reference package ("... URI SUITE/COMP ARCH Packages").
    line=$(apt_priv apt-cache madison "$pkg:$ref" | awk -F' [|] ' -v v="$ver" '$2 == v { print $3; exit }')
    suite=$(awk '{ split($2, s, "/"); print s[1] }' <<<"$line")
    comp=$(awk '{ split($2, s, "/"); print s[2] }' <<<"$line")
    [[ -n $suite && -n $comp ]] || die "cannot find the suite of $pkg:$ref=$ver"
    keyring=$(host_debian_sources | awk -F'\t' -v u="$base" -v s="$suite" '($1 == u || $1 == u "/") && $2 == s { print $4; exit }')
    keyring=${keyring:-/usr/share/keyrings/debian-archive-keyring.gpg}
    name=$(deb_name "$pkg" "$ver" "$arch")
    local tmp
    tmp=$(mktemp -d "$APT_DIR/manual.XXXXXX")
    log "manual fetch $pkg:$arch=$ver ($arch index of $suite not loadable; URL derived from $ref)"
    # 1. signed InRelease -> expected hash of Packages.xz
    if /usr/lib/apt/apt-helper download-file "$base/dists/$suite/InRelease" "$tmp/InRelease" >/dev/null 2>&1 &&
        gpgv --keyring "$keyring" --output "$tmp/Release" "$tmp/InRelease" >/dev/null 2>&1; then
        local idx_hash idx_got
        idx_hash=$(awk -v f="$comp/binary-$arch/Packages.xz" '/^SHA256:/ { s = 1; next } /^[^ ]/ { s = 0 } s && $3 == f { print $1; exit }' "$tmp/Release")
        if [[ -n $idx_hash ]] &&
            /usr/lib/apt/apt-helper download-file "$base/dists/$suite/$comp/binary-$arch/Packages.xz" "$tmp/Packages.xz" >/dev/null 2>&1; then
            idx_got=$(sha256sum <"$tmp/Packages.xz" | cut -d' ' -f1)
            want=$(xz -dc "$tmp/Packages.xz" 2>/dev/null | awk -v p="$pkg" -v v="$ver" '
                /^Package: / { pk = $2 } /^Version: / { vv = $2 } /^SHA256: / { sh = $2 }
                /^$/ { if (pk == p && vv == v) { print sh; exit } pk = vv = sh = "" }
                END { if (pk == p && vv == v) print sh }' | head -n1)
            if [[ $idx_got == "$idx_hash" && -n $want ]]; then
                method=signed-index
            elif [[ -n $want ]]; then
                method=unauthenticated-index
                log "WARNING: served $suite/$comp/binary-$arch/Packages.xz ($idx_got) does not match the signed InRelease ($idx_hash); using its entry for $pkg=$ver unauthenticated"
            fi
        fi
    else
        log "WARNING: could not fetch/verify $base/dists/$suite/InRelease"
    fi
    [[ $method == signed-index || ${DAVIT_REQUIRE_SIGNED:-0} != 1 ]] ||
        die "$pkg:$arch=$ver cannot be verified against a signed index (DAVIT_REQUIRE_SIGNED=1)"
    /usr/lib/apt/apt-helper download-file "$url" "$tmp/$name" ${want:+SHA256:$want} >/dev/null 2>&1 ||
        die "download of $url failed${want:+ or its sha256 is not $want}"
    local got
    got=$(sha256sum <"$tmp/$name" | cut -d' ' -f1)
    [[ -z $want || $got == "$want" ]] || die "sha256 mismatch for $name: $got != $want"
    [[ $(dpkg-deb -f "$tmp/$name" Package) == "$pkg" && $(dpkg-deb -f "$tmp/$name" Version) == "$ver" &&
        $(dpkg-deb -f "$tmp/$name" Architecture) == "$arch" ]] || die "$name: control fields do not match $pkg $ver $arch"
    mv "$tmp/$name" "$DEB_DIR/$name"
    rm -rf "$tmp"
    record_verify "$pkg" "$arch" "$ver" "$got" "$method"
    log "$pkg:$arch=$ver sha256 $got ($method)"
    echo "$DEB_DIR/$name"
}

# unpack_deb DEB DEST: dpkg-deb -x into DEST, then check the files against the
# package's own md5sums.  A stamp in DEST/.debs makes it idempotent.
unpack_deb() {
    local deb=$1 dest=$2 stamp sum
    stamp=$dest/.debs/$(basename "$deb")
    sum=$(sha256sum <"$deb" | cut -d' ' -f1)
    [[ -f $stamp && $(cat "$stamp") == "$sum" ]] && return 0
    mkdir -p "$dest/.debs"
    dpkg-deb -x "$deb" "$dest"
    local ctl
    ctl=$(mktemp -d)
    dpkg-deb -e "$deb" "$ctl"
    if [[ -f $ctl/md5sums ]]; then
        (cd "$dest" && md5sum --quiet -c "$ctl/md5sums") || die "md5sums check failed for $(basename "$deb")"
    fi
    rm -rf "$ctl"
    echo "$sum" >"$stamp"
}

# ARCH naming: Debian arch <-> Rust target <-> qemu.
rust_target() {
    case $1 in
        arm64) echo aarch64-unknown-linux-gnu ;;
        armhf) echo armv7-unknown-linux-gnueabihf ;;
        *) die "unknown arch $1 (arm64|armhf)" ;;
    esac
}
gnu_triplet() {
    case $1 in
        arm64) echo aarch64-linux-gnu ;;
        armhf) echo arm-linux-gnueabihf ;;
        *) die "unknown arch $1 (arm64|armhf)" ;;
    esac
}
norm_arch() {
    case $1 in
        arm64 | aarch64) echo arm64 ;;
        armhf | armv7 | arm) echo armhf ;;
        *) die "unknown arch $1 (arm64|armhf)" ;;
    esac
}
