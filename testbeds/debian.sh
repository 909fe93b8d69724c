# What the test beds need from Debian and share (sourced, not executed): the host's apt
# sources read in both formats, Debian packages installed, a pinned source package fetched
# without touching the host's apt state, and the runtime and cgroup facts the peer suites
# (conformance/, crun-suite/) both report. The sourcing script defines log() and die().
# shellcheck shell=bash

# apt_sources [ETC]: one line per (type, URI, suite) of the apt sources under ETC (default
# /etc/apt), deb822 (sources.list.d/*.sources) and one-line (sources.list, *.list) alike:
# "TYPE<TAB>URI<TAB>SUITE<TAB>COMPONENTS<TAB>SIGNED-BY". Disabled stanzas and comments are
# skipped; SIGNED-BY is empty unless it names a file (deb822 may hold the key inline).
apt_sources() {
	local etc=${1:-/etc/apt} f
	local -a files=()
	shopt -s nullglob
	files=("$etc"/sources.list.d/*.sources)
	for f in "${files[@]}"; do
		awk 'BEGIN { RS = ""; FS = "\n" }
		{
			types = ""; uris = ""; suites = ""; comps = ""; key = ""; enabled = "yes"
			for (i = 1; i <= NF; i++) {
				line = $i
				if (line ~ /^[ \t]*#/) continue
				k = line; sub(/:.*/, "", k); k = tolower(k)
				v = line; sub(/^[^:]*:[ \t]*/, "", v); sub(/[ \t]+$/, "", v)
				if (k == "types") types = v
				else if (k == "uris") uris = v
				else if (k == "suites") suites = v
				else if (k == "components") comps = v
				else if (k == "signed-by") key = v
				else if (k == "enabled") enabled = tolower(v)
			}
			if (enabled == "no") next
			if (key !~ /^\//) key = ""
			nt = split(types, T, /[ \t]+/); nu = split(uris, U, /[ \t]+/); ns = split(suites, S, /[ \t]+/)
			for (t = 1; t <= nt; t++) for (a = 1; a <= nu; a++) for (b = 1; b <= ns; b++)
				printf "%s\t%s\t%s\t%s\t%s\n", T[t], U[a], S[b], comps, key
		}' "$f"
	done
	files=()
	[[ -f $etc/sources.list ]] && files+=("$etc/sources.list")
	files+=("$etc"/sources.list.d/*.list)
	for f in "${files[@]}"; do
		awk '$1 == "deb" || $1 == "deb-src" {
			key = ""; i = 2
			if ($2 ~ /^\[/) {
				while (i <= NF) {
					if ($i ~ /signed-by=/) { key = $i; sub(/.*signed-by=/, "", key); sub(/\]$/, "", key) }
					if ($i ~ /\]$/) { i++; break }
					i++
				}
			}
			comps = ""
			for (j = i + 2; j <= NF; j++) comps = comps (comps == "" ? "" : " ") $j
			printf "%s\t%s\t%s\t%s\t%s\n", $1, $i, $(i + 1), comps, key
		}' "$f"
	done
	shopt -u nullglob
}

# debian_mirrors [ETC]: "URI<TAB>SIGNED-BY" of every Debian main archive (a URI ending in
# /debian, deb or deb-src) of the apt sources under ETC, first seen first, without a
# trailing slash; then deb.debian.org as the fallback, unless listed.
debian_mirrors() {
	apt_sources "${1:-/etc/apt}" | awk -F'\t' -v OFS='\t' '
		$2 ~ /\/debian\/?$/ { u = $2; sub(/\/$/, "", u); if (!(u in seen)) { seen[u] = 1; print u, $5 } }
		END {
			u = "http://deb.debian.org/debian"
			if (!(u in seen)) print u, "/usr/share/keyrings/debian-archive-keyring.gpg"
		}'
}

install_packages() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	((${#missing[@]} == 0)) && return 0
	log "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
	apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# fetch_debian_orig PKG DEB_VERSION SUITE ORIG SHA256 DIR STAMP: the orig tarball ORIG of
# the source package PKG=DEB_VERSION from SUITE into DIR, unless DIR holds it already;
# checked against SHA256. A new download removes the file STAMP (the caller's mark that the
# tarball is unpacked). apt-get source runs with a private source list and private lists and
# cache, so the host's apt configuration is never touched, and tries the host's Debian
# mirrors in turn (DAVIT_APT_ETC replaces /etc/apt), then deb.debian.org.
fetch_debian_orig() {
	local pkg=$1 ver=$2 suite=$3 orig=$4 sha256=$5 dl=$6 stamp=$7
	local apt="$dl/apt" uri key seen=" "
	debian_orig_matches() { [[ -f "$dl/$orig" ]] && echo "$sha256  $dl/$orig" | sha256sum -c --status; }
	debian_orig_matches && return 0
	mkdir -p "$dl"
	local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/sources.list.d"
		-o "Dir::State::Lists=$apt/lists" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=
		-o APT::Sandbox::User=root -o Acquire::Languages=none)
	while IFS=$'\t' read -r uri key; do
		[[ $seen == *" $uri "* ]] && continue
		seen+="$uri "
		log "fetching $orig ($suite source package) from $uri"
		rm -rf "$apt" "${dl:?}/$orig"
		mkdir -p "$apt/lists/partial" "$apt/sources.list.d"
		: >"$apt/sources.list"
		{
			echo "Types: deb-src"
			echo "URIs: $uri"
			echo "Suites: $suite"
			echo "Components: main"
			if [[ -n $key && -r $key ]]; then
				echo "Signed-By: $key"
			elif ! ls /etc/apt/trusted.gpg.d/debian-archive-* >/dev/null 2>&1; then
				# No Debian key on this host (Ubuntu without debian-archive-keyring): the index
				# is unauthenticated, but the tarball is pinned by its sha256.
				log "no Debian archive key: index unauthenticated, the tarball is checked by sha256"
				echo "Trusted: yes"
			fi
		} >"$apt/sources.list.d/$suite-src.sources"
		if apt-get "${opts[@]}" update -qq >&2; then
			# The .dsc may 404 on some mirrors; the orig tarball is all we need.
			(cd "$dl" && apt-get "${opts[@]}" source -qq --download-only "$pkg=$ver" >&2) || true
		fi
		rm -rf "$apt"
		if debian_orig_matches; then
			rm -f "$stamp"
			return 0
		fi
		[[ -f "$dl/$orig" ]] && log "$orig from $uri: sha256 mismatch"
		log "$uri: no usable $orig"
	done < <(debian_mirrors "${DAVIT_APT_ETC:-/etc/apt}")
	die "download of $orig (sha256 $sha256) failed from every mirror"
}

# resolve_runtime NAME-OR-PATH: the absolute path of an executable runtime, or status 1.
resolve_runtime() {
	local r=$1
	if [[ $r != */* ]]; then r=$(command -v "$r" 2>/dev/null) || return 1; fi
	[[ -x $r && -f $r ]] || return 1
	realpath -s "$r"
}

runtime_version() {
	"$1" --version 2>/dev/null | head -1 || true
}

hybrid_cgroups() {
	[[ "$(findmnt -n -o FSTYPE /sys/fs/cgroup/unified 2>/dev/null)" == cgroup2 ]]
}

cgroup_dirs() {
	find /sys/fs/cgroup -mindepth 1 -type d 2>/dev/null | LC_ALL=C sort
}
