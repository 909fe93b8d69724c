# shellcheck shell=bash
# Shared helpers for the ARM test bed scripts (sourced, not executed).
#
# Everything downloaded lives under ${DAVIT_CACHE:-/var/cache/davit}/arm.
# Debian packages for foreign architectures are fetched with a *private* APT
# configuration (own sources, lists, cache and empty dpkg status), so the
# host's dpkg architectures and package state are never changed.  Which
# .debs, in which exact version and with which sha256, is in the pin file
# (testbeds/arm/pins, written by pins.sh --update; see fetch_pinned).

# shellcheck disable=SC2034 # used by the scripts that source this file
ARM_TB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ARM_CACHE=${DAVIT_CACHE:-/var/cache/davit}/arm
APT_DIR=$ARM_CACHE/apt
DEB_DIR=$ARM_CACHE/debs
# Start of this run (children and subshells inherit it): see apt_priv_update.
ARM_RUN_START=${ARM_RUN_START:-$(date +%s)}
export ARM_RUN_START
# Architectures the private APT knows about (host first).
PRIV_ARCHES=(amd64 arm64 armhf)

log() { printf '[arm-testbed] %s\n' "$*" >&2; }
die() { printf '[arm-testbed] ERROR: %s\n' "$*" >&2; exit 1; }
# shellcheck source-path=SCRIPTDIR source=../debian.sh
. "$ARM_TB_DIR/../debian.sh"

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
# line because host apt.conf.d snippets, read after APT_CONFIG, may disable them;
# so is the refusal of unsigned repositories and packages, which no host
# snippet can turn off for the private APT)
apt_priv() {
    local tool=$1
    shift
    APT_CONFIG=$APT_DIR/apt.conf "$tool" -o "Dir::Cache::pkgcache=$APT_DIR/cache/pkgcache.bin" \
        -o "Dir::Cache::srcpkgcache=" \
        -o Acquire::AllowInsecureRepositories=false -o Acquire::AllowDowngradeToInsecureRepositories=false \
        -o APT::Get::AllowUnauthenticated=false "$@"
}

# Print "URI<TAB>SUITE<TAB>COMPONENTS<TAB>SIGNED-BY" for every Debian archive
# entry (URI path ending in /debian or /debian-security) of the host's sources,
# deb822 (*.sources) and one-line (sources.list, *.list) formats alike.
# DAVIT_ARM_KEYRING replaces SIGNED-BY (a mirror with its own key; tests).
host_debian_sources() {
    if [[ -n ${DAVIT_ARM_KEYRING:-} ]]; then
        host_debian_sources_raw | awk -F'\t' -v OFS='\t' -v k="$DAVIT_ARM_KEYRING" '{ $4 = k; print }'
    else
        host_debian_sources_raw
    fi
}

host_debian_sources_raw() {
    apt_sources | awk -F'\t' -v OFS='\t' '$1 == "deb" && $2 ~ /\/debian(-security)?\/?$/ { print $2, $3, $4, $5 }'
}

# Write the private sources: one stanza per (URI, suite), all PRIV_ARCHES
# except the "SUITE ARCH" pairs listed in $APT_DIR/excluded-arches ("SUITE *":
# the whole suite).
write_priv_sources() {
    local uri suite comps key arches a out=$APT_DIR/sources.list.d/debian.sources
    : >"$out.new"
    while IFS=$'\t' read -r uri suite comps key; do
        grep -qxF "$suite *" "$APT_DIR/excluded-arches" 2>/dev/null && continue
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
    [[ -s $out.new || -s $APT_DIR/excluded-arches ]] || die "no Debian archive found in the host's APT sources"
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

# DAVIT_ARM_ALLOW_UNSIGNED=1: the one knob that lets an index without a valid
# signature through (see apt_priv_update and pins.sh); off by default.
allow_unsigned() { [[ ${DAVIT_ARM_ALLOW_UNSIGNED:-0} == 1 ]]; }

# Suites whose Release apt rejected for its signature, from apt-get update's
# output.  Note that apt only *warns* (exit 0) when it still has lists from an
# earlier update: "W: An error occurred during the signature verification. The
# repository is not updated and the previous index files will be used. GPG
# error: URI SUITE InRelease: ...".  That counts as a failure here too.
unsigned_suites() {
    sed -nE -e "s#^E: The repository '[^ ]+ ([^ ]+) [^']*' (is not signed|is no longer signed|does not have a Release file).*#\1#p" \
        -e 's#^[WE]: .*GPG error: [^ ]+ ([^ ]+) (In)?Release: .*#\1#p' | sort -u
}

# Refresh the private package lists (at most once per DAVIT_APT_MAX_AGE
# seconds, default 1 day; DAVIT_APT_REFRESH=1 forces, once per run of a script:
# the stamp's mtime against ARM_RUN_START, as this is often called in a subshell).
#
# Signatures: apt is run with insecure repositories forbidden (apt_priv), so a
# suite whose InRelease/Release is unsigned or badly signed makes the update
# fail -- loudly, naming the suite.  Only with DAVIT_ARM_ALLOW_UNSIGNED=1 is
# that suite dropped from the private APT instead (its packages then come from
# the pool paths in the pin file, still checked against the pinned sha256).
#
# If the mirror serves a broken index for some (suite, arch) -- seen:
# bookworm-security armhf, "File has unexpected size", i.e. it does not match
# the signed Release -- apt drops the whole suite, so that arch is excluded for
# that suite and the update retried; nothing from that index is used, and
# pinned packages missing because of it are fetched from their pool path.
apt_priv_update() {
    apt_priv_setup
    local stamp=$APT_DIR/updated max_age=${DAVIT_APT_MAX_AGE:-86400} mtime
    if [[ -f $stamp ]]; then
        mtime=$(stat -c %Y "$stamp")
        ((mtime >= ARM_RUN_START)) && return 0
        [[ ${DAVIT_APT_REFRESH:-0} != 1 ]] && (($(date +%s) - mtime < max_age)) && return 0
    fi
    : >"$APT_DIR/excluded-arches"
    local try out rc suite arch new
    local -a bad
    for try in 1 2 3 4; do
        write_priv_sources
        log "private apt-get update (try $try)"
        rc=0
        out=$(apt_priv apt-get update 2>&1) || rc=$?
        if ((rc == 0)) && ! grep -q '^E: ' <<<"$out" && [[ -z $(unsigned_suites <<<"$out") ]]; then
            date -u +%FT%TZ >"$stamp"
            if [[ -s $APT_DIR/excluded-arches ]]; then
                log "index excluded: $(tr '\n' ';' <"$APT_DIR/excluded-arches")"
            fi
            return 0
        fi
        new=0
        mapfile -t bad < <(unsigned_suites <<<"$out")
        if ((${#bad[@]})) && ! allow_unsigned; then
            grep -E 'GPG error|^E: ' <<<"$out" >&2 || true
            die "no valid signature on the Release of: ${bad[*]} (keyring: Signed-By of the host's sources${DAVIT_ARM_KEYRING:+, overridden by DAVIT_ARM_KEYRING=$DAVIT_ARM_KEYRING}); refusing an unsigned index. DAVIT_ARM_ALLOW_UNSIGNED=1 drops such suites from the private APT instead (pinned packages are then fetched from their pool path, checked against the pinned sha256)"
        fi
        for suite in "${bad[@]}"; do
            if ! grep -qxF "$suite *" "$APT_DIR/excluded-arches"; then
                echo "$suite *" >>"$APT_DIR/excluded-arches"
                new=1
                log "WARNING: suite $suite has no valid signature; dropped from the private APT (DAVIT_ARM_ALLOW_UNSIGNED=1)"
            fi
        done
        while read -r suite arch; do
            [[ -n $suite ]] || continue
            if ! grep -qxF "$suite $arch" "$APT_DIR/excluded-arches"; then
                echo "$suite $arch" >>"$APT_DIR/excluded-arches"
                new=1
                log "index for $suite/$arch failed to load (does not match the signed Release); excluding it"
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

sha256_of() { sha256sum <"$1" | cut -d' ' -f1; }

# check_control DEB PKG VERSION ARCH: the .deb's control fields are what its name says.
check_control() {
    [[ $(dpkg-deb -f "$1" Package) == "$2" && $(dpkg-deb -f "$1" Version) == "$3" &&
        $(dpkg-deb -f "$1" Architecture) == "$4" ]] || die "$(basename "$1"): control fields do not match $2 $3 $4"
}

# ---------------------------------------------------------------------------
# Pins: every .deb the private APT fetches, with its exact version and sha256
# ---------------------------------------------------------------------------
#
# The pin file (testbeds/arm/pins, or DAVIT_ARM_PINS) has one line per .deb,
# whitespace-separated:
#   PACKAGE ARCH VERSION SHA256 SUITE GROUP VERIFIED FILENAME
# GROUP says where it is unpacked (rust, seccomp, bpfdeps, busybox, kernel);
# VERIFIED how pins.sh checked the sha256 when it wrote the line (signed: a
# Packages index whose hash is in a Release signed by the archive key;
# unsigned-index / none: only with DAVIT_ARM_ALLOW_UNSIGNED=1); FILENAME is the
# pool path below the archive's URI (the fallback when the version has left the
# index).  The scripts fetch exactly these files and check the sha256 before
# unpacking; the pins only move with `testbeds/arm/pins.sh --update`, a change
# to review and commit.
ARM_PINS=${DAVIT_ARM_PINS:-$ARM_TB_DIR/pins}
PINS_UPDATE_CMD="testbeds/arm/pins.sh --update"

# pins_list [GROUP [ARCH]]: the pin lines (comments and blank lines dropped).
pins_list() {
    [[ -f $ARM_PINS ]] || die "pin file $ARM_PINS missing (write it with: $PINS_UPDATE_CMD)"
    awk -v g="${1:-}" -v a="${2:-}" -v f="$ARM_PINS" '
        /^[ \t]*(#|$)/ { next }
        NF != 8 || length($4) != 64 || $4 ~ /[^0-9a-f]/ { printf "[arm-testbed] ERROR: %s:%d: malformed pin line: %s\n", f, NR, $0 > "/dev/stderr"; bad = 1; exit }
        (g == "" || $6 == g) && (a == "" || $2 == a)
        END { exit bad }' "$ARM_PINS" || die "fix $ARM_PINS or rewrite it with $PINS_UPDATE_CMD"
}

# pin_read PKG ARCH: sets PIN_VER PIN_SHA PIN_SUITE PIN_GROUP PIN_VERIFIED PIN_FILE PIN_DEB.
pin_read() {
    local line
    line=$(pins_list "" "" | awk -v p="$1" -v a="$2" '$1 == p && $2 == a')
    [[ -n $line ]] || die "$1:$2 has no pin in $ARM_PINS (add it with: $PINS_UPDATE_CMD)"
    [[ $(wc -l <<<"$line") == 1 ]] || die "$1:$2 is pinned more than once in $ARM_PINS"
    read -r _ _ PIN_VER PIN_SHA PIN_SUITE PIN_GROUP PIN_VERIFIED PIN_FILE <<<"$line"
    PIN_DEB=$(deb_name "$1" "$PIN_VER" "$2")
    if [[ $PIN_VERIFIED != signed && ${PIN_WARNED:-} != *" $1:$2 "* ]]; then
        PIN_WARNED="${PIN_WARNED:-} $1:$2 "
        log "WARNING: the pin of $1:$2=$PIN_VER was not verified against a signed index when it was made ($PIN_VERIFIED); its sha256 is trusted as reviewed"
    fi
}

# What the private APT's indexes offer for PKG:ARCH now, on one line.
mirror_offers() {
    local o
    o=$(apt_priv apt-cache madison "$1:$2" 2>/dev/null |
        awk -F' [|] ' '{ gsub(/ /, "", $2); split($3, w, " "); printf "%s%s (%s)", (NR > 1 ? ", " : ""), $2, w[2] }')
    echo "${o:-nothing (in no loaded index)}"
}

# pin_fail PKG ARCH PROBLEM: the loud failure, with what the mirror offers and how to move the pins.
pin_fail() {
    local pkg=$1 arch=$2 problem=$3 would
    would=$( (resolve_debs 2>/dev/null || echo "? ? ? (cannot resolve)") |
        awk -v g="$PIN_GROUP" -v a="$arch" '$1 == g && $3 == a { printf "%s%s=%s", (n++ ? ", " : ""), $2, $4 }')
    {
        echo "[arm-testbed] ERROR: pinned $pkg:$arch=$PIN_VER: $problem"
        echo "[arm-testbed]   pin:            $pkg $arch $PIN_VER sha256 $PIN_SHA ($PIN_SUITE) in $ARM_PINS"
        echo "[arm-testbed]   mirror offers:  $pkg:$arch $(mirror_offers "$pkg" "$arch")"
        echo "[arm-testbed]   update would pin ($PIN_GROUP, $arch): ${would:-nothing}"
        echo "[arm-testbed]   the pins move only by a reviewed change: run '$PINS_UPDATE_CMD',"
        echo "[arm-testbed]   review its diff of testbeds/arm/pins (versions, sha256, VERIFIED column) and commit it"
    } >&2
    exit 1
}

# Pool URLs to try for a pinned FILENAME of SUITE when the index no longer has
# it: the suite's archive first, then the other Debian archives of the host's
# sources (a security update moves from pool/updates/main to pool/main).
pool_urls() {
    local suite=$1 file=$2 alt="" base
    [[ $file == pool/updates/* ]] && alt=pool/${file#pool/updates/}
    {
        host_debian_sources | awk -F'\t' -v s="$suite" '$2 == s { print $1 }'
        host_debian_sources | awk -F'\t' '{ print $1 }'
    } | sed 's#/*$##' | awk '!seen[$0]++' | while read -r base; do
        echo "$base/$file"
        [[ -z $alt ]] || echo "$base/$alt"
    done
}

# fetch_pinned PKG ARCH -> prints the path of the .deb whose sha256 is the pinned one.
#
# A cached .deb with the pinned sha256 is used as is.  Otherwise: the URL from
# the private APT's (signed) index if it still lists the pinned version -- its
# SHA256 there must be the pinned one -- else the pinned pool path directly
# (Debian drops old versions from the index before it deletes them from the
# pool).  Whatever was downloaded must have the pinned sha256 and control fields.
fetch_pinned() {
    local pkg=$1 arch=$2 got uri_line url ihash tmp err
    local -a urls tried=()
    pin_read "$pkg" "$arch"
    if [[ -f $DEB_DIR/$PIN_DEB ]]; then
        got=$(sha256_of "$DEB_DIR/$PIN_DEB")
        if [[ $got == "$PIN_SHA" ]]; then
            echo "$DEB_DIR/$PIN_DEB"
            return 0
        fi
        log "cached $PIN_DEB has sha256 $got, not the pinned $PIN_SHA: fetching it again"
    fi
    apt_priv_update
    if uri_line=$(apt_priv apt-get download --print-uris "$pkg:$arch=$PIN_VER" 2>/dev/null) && [[ -n $uri_line ]]; then
        read -r url _ _ ihash <<<"$uri_line"
        url=${url//\'/}
        ihash=${ihash#SHA256:}
        [[ $ihash == "$PIN_SHA" ]] ||
            pin_fail "$pkg" "$arch" "sha256 mismatch: the mirror's signed index lists this version with sha256 $ihash"
        urls=("$url")
        log "download $pkg:$arch=$PIN_VER (index of the private APT)"
    else
        tried+=("the loaded indexes of the private APT: version not listed")
        mapfile -t urls < <(pool_urls "$PIN_SUITE" "$PIN_FILE")
        log "$pkg:$arch=$PIN_VER is not in the private APT's indexes; trying its pool path directly"
    fi
    mkdir -p "$DEB_DIR"
    tmp=$(mktemp -d "$DEB_DIR/.fetch.XXXXXX")
    for url in "${urls[@]}"; do
        if err=$(/usr/lib/apt/apt-helper download-file "$url" "$tmp/$PIN_DEB" 2>&1); then
            got=$(sha256_of "$tmp/$PIN_DEB")
            if [[ $got != "$PIN_SHA" ]]; then
                rm -rf "$tmp"
                pin_fail "$pkg" "$arch" "sha256 mismatch: $url has sha256 $got"
            fi
            check_control "$tmp/$PIN_DEB" "$pkg" "$PIN_VER" "$arch"
            mv "$tmp/$PIN_DEB" "$DEB_DIR/$PIN_DEB"
            rm -rf "$tmp"
            log "$pkg:$arch=$PIN_VER sha256 $got (pinned) from $url"
            echo "$DEB_DIR/$PIN_DEB"
            return 0
        fi
        tried+=("$url: $(grep -m1 -oE '[0-9]{3} +[A-Za-z][A-Za-z ]*' <<<"$err" || sed -n '1p' <<<"$err")")
    done
    rm -rf "$tmp"
    local t msg="not downloadable any more; tried:"
    for t in "${tried[@]}"; do msg+=$'\n'"[arm-testbed]     - $t"; done
    pin_fail "$pkg" "$arch" "$msg"
}

# unpack_deb DEB DEST [SHA256]: dpkg-deb -x into DEST, then check the files
# against the package's own md5sums.  A stamp in DEST/.debs makes it idempotent.
unpack_deb() {
    local deb=$1 dest=$2 sum=${3:-} stamp
    stamp=$dest/.debs/$(basename "$deb")
    [[ -n $sum ]] || sum=$(sha256_of "$deb")
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

# unpack_pinned PKG ARCH DEST: the pinned .deb, unpacked into DEST.  A no-op
# (no download, no hashing) when DEST's stamp records the pinned sha256.
unpack_pinned() {
    local pkg=$1 arch=$2 dest=$3 deb
    pin_read "$pkg" "$arch"
    [[ -f $dest/.debs/$PIN_DEB && $(cat "$dest/.debs/$PIN_DEB") == "$PIN_SHA" ]] && return 0
    deb=$(fetch_pinned "$pkg" "$arch") || exit 1
    unpack_deb "$deb" "$dest" "$PIN_SHA"
}

# ---------------------------------------------------------------------------
# What pins.sh --update pins: the newest of each, as the private APT sees it
# ---------------------------------------------------------------------------

kernel_meta() {
    case $1 in
        arm64) echo linux-image-arm64 ;;
        armhf) echo linux-image-armmp ;;
        *) die "unknown arch $1 (arm64|armhf)" ;;
    esac
}

kernel_meta_versions() { # ARCH -> versions of the metapackage, one per line
    apt_priv apt-cache madison "$(kernel_meta "$1"):$1" | awk -F' [|] ' '{ gsub(/ /, "", $2); print $2 }' | sort -u
}

newest_version() { # versions on stdin -> newest by dpkg ordering
    local best="" v
    while read -r v; do
        if [[ -z $best ]] || dpkg --compare-versions "$v" gt "$best"; then best=$v; fi
    done
    echo "$best"
}

# resolve_debs: "GROUP PACKAGE ARCH VERSION" for every .deb to pin:
#  rust     rustc-web (candidate, amd64), libstd-rust-web-X.Y (amd64) and
#           libstd-rust-web-dev (amd64 arm64 armhf) of the same version, and the
#           libllvmNN that libstd-rust-web-X.Y depends on (candidate, amd64);
#  seccomp  libseccomp-dev, bpfdeps libelf-dev zlib1g-dev, busybox
#           busybox-static: candidates for arm64 and armhf;
#  kernel   linux-image-<abi>-arm64 / -armmp: what linux-image-arm64 /
#           linux-image-armmp depend on in their newest version available for
#           both arches (both guests run the same kernel).
resolve_debs() {
    apt_priv_update
    local rv mm llvm lv a v spec g p mver depline dep kver
    rv=$(priv_candidate rustc-web amd64)
    [[ -n $rv ]] || die "rustc-web is not available from the host's Debian suites (needs bookworm-security)"
    mm=$(sed -E 's/^([0-9]+:)?([0-9]+\.[0-9]+)\..*/\2/' <<<"$rv")
    echo "rust rustc-web amd64 $rv"
    echo "rust libstd-rust-web-$mm amd64 $rv"
    for a in amd64 arm64 armhf; do echo "rust libstd-rust-web-dev $a $rv"; done
    llvm=$(apt_priv apt-cache show "libstd-rust-web-$mm:amd64=$rv" |
        awk -F': ' '/^Depends:/ { print $2; exit }' | tr ',' '\n' | grep -oE 'libllvm[0-9]+' | head -n1)
    [[ -n $llvm ]] || die "cannot find the libllvm dependency of libstd-rust-web-$mm"
    lv=$(priv_candidate "$llvm" amd64)
    [[ -n $lv ]] || die "$llvm:amd64 not available"
    echo "rust $llvm amd64 $lv"
    for a in arm64 armhf; do
        for spec in seccomp:libseccomp-dev bpfdeps:libelf-dev bpfdeps:zlib1g-dev busybox:busybox-static; do
            g=${spec%%:*} p=${spec#*:}
            v=$(priv_candidate "$p" "$a")
            [[ -n $v ]] || die "$p:$a not available"
            echo "$g $p $a $v"
        done
    done
    mver=$(comm -12 <(kernel_meta_versions arm64) <(kernel_meta_versions armhf) | newest_version)
    [[ -n $mver ]] || die "no kernel version is available for both arm64 and armhf"
    for a in arm64 armhf; do
        # linux-image-arm64 (= V) Depends: linux-image-6.1.0-NN-arm64 (= V)
        depline=$(apt_priv apt-cache show "$(kernel_meta "$a"):$a=$mver" | awk -F': ' '/^Depends:/ { print $2; exit }' |
            tr ',' '\n' | grep -E '^ *linux-image-[0-9]' | head -n1)
        dep=$(awk '{ print $1 }' <<<"$depline")
        kver=$(sed -nE 's/.*\(= *([^ )]+)\).*/\1/p' <<<"$depline")
        [[ -n $dep && -n $kver ]] || die "cannot resolve $(kernel_meta "$a")=$mver for $a (Depends: $depline)"
        echo "kernel $dep $a $kver"
    done
}

# host_versions PKG...: "pkg=version ..." of host (normal apt) packages, for the logs.
host_versions() {
    dpkg-query -W -f='${Package}=${Version} ' "$@" 2>/dev/null | sed 's/ $//'
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
