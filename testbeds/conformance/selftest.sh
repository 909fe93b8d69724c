#!/usr/bin/env bash
# Tests of run.sh's own logic with fake inputs, no container and no network: the Debian mirror
# derived from fake /etc/apt trees (run.sh --print-mirror DIR), and the verdicts of --check on
# fake program outputs (fake console logs judged by run.sh --from-guest, the code path of the
# host run). Prints one line per case and "N passed, M failed".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
run=$here/run.sh
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
pass=0 fail=0
check() { # NAME WANT GOT
  if [[ $2 == "$3" ]]; then
    pass=$((pass + 1)); echo "ok   $1"
  else
    fail=$((fail + 1)); echo "FAIL $1: want [$2], got [$3]"
  fi
}

# --------------------------------------------------------------- mirror ---
etc() { rm -rf "${t:?}/etc"; mkdir -p "$t/etc/sources.list.d"; }
mirror() { "$run" --print-mirror "$t/etc" | head -1 | tr '\t' ' '; }

etc # Debian 12 default: deb822 debian.sources, security stanza second
cat >"$t/etc/sources.list.d/debian.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
check "deb822 debian.sources" "http://deb.debian.org/debian /usr/share/keyrings/debian-archive-keyring.gpg" "$(mirror)"

etc # deb822, security first, a disabled stanza, a file with another name
cat >"$t/etc/sources.list.d/zz-local.sources" <<'EOF'
# local mirror
Types: deb-src deb
URIs: https://mirror.example.org/debian-security/
Suites: bookworm-security
Components: main

Enabled: no
Types: deb
URIs: http://disabled.example.org/debian
Suites: bookworm

types: deb
uris: http://proxy.example.org:3142/debian/
suites: bookworm
components: main
EOF
check "deb822 security first, disabled stanza, lower-case keys" "http://proxy.example.org:3142/debian " "$(mirror)"

etc # Debian 12 upgraded from 11: one-line sources.list only
cat >"$t/etc/sources.list" <<'EOF'
# deb cdrom:[Debian GNU/Linux 12]/ bookworm main
deb http://security.debian.org/debian-security bookworm-security main
deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://ftp.de.debian.org/debian/ bookworm main contrib
EOF
check "one-line sources.list with options" "http://ftp.de.debian.org/debian /usr/share/keyrings/debian-archive-keyring.gpg" "$(mirror)"

etc # one-line *.list in sources.list.d, no sources.list
echo 'deb http://mirror.example.net/debian bookworm main' >"$t/etc/sources.list.d/mirror.list"
check "one-line sources.list.d/*.list" "http://mirror.example.net/debian " "$(mirror)"

etc # several mirrors: each once, in order, then the fallback (fetching tries them in turn)
printf '%s\n' 'deb http://a.example.org/debian bookworm main' 'deb-src http://b.example.org/debian/ bookworm main' \
  'deb http://a.example.org/debian/ bookworm-updates main' >"$t/etc/sources.list"
check "several mirrors, in order, once each" \
  "http://a.example.org/debian |http://b.example.org/debian |http://deb.debian.org/debian /usr/share/keyrings/debian-archive-keyring.gpg" \
  "$("$run" --print-mirror "$t/etc" | tr '\t' ' ' | paste -sd'|')"

etc # Ubuntu: no Debian archive at all (deb822 ubuntu.sources)
printf 'Types: deb\nURIs: http://archive.ubuntu.com/ubuntu\nSuites: noble\nComponents: main\n' \
  >"$t/etc/sources.list.d/ubuntu.sources"
check "Ubuntu: falls back to deb.debian.org" "http://deb.debian.org/debian /usr/share/keyrings/debian-archive-keyring.gpg" "$(mirror)"

etc # nothing at all
check "no sources: falls back to deb.debian.org" "http://deb.debian.org/debian /usr/share/keyrings/debian-archive-keyring.gpg" "$(mirror)"

# ---------------------------------------------------------------- check ---
# A fake board log: facts, then per program and try the tap-summary.awk output of a TAP text.
cat >"$t/exp.txt" <<'EOF'
prog_notests_ok | notests | always | suite: reports only failures
prog_point | memory kernel is set correctly | v1:memory | machine: no kmem limits
prog_point | memory oom is set correctly | cgroup-v2 | machine: applies on v2 only
prog_stale | memory kernel is set correctly | always | machine: stale
prog_racy | * | always | racy: races
prog_racy_never | * | always | racy: races
prog_flaky | create works ~ kill needs it to be created | always | flaky: kills a stopped container
prog_glob_* | - | !v1:hugetlb | machine: no hugetlb
prog_kernel | #2 | kernel>=6.0 | machine: new kernels
EOF
log=$t/console.log
facts() { printf 'CONF-FACT %s\n' cgroup-hybrid v1:memory kernel=6.1 arch:x86_64 >"$log"; }
# prog NAME TRY RC TAP
prog() {
  printf '%s\n' "$4" >"$t/tap"
  awk -f "$here/tap-summary.awk" "$t/tap" | sed "s/^/CONF-SUM $1 $2 /" >>"$log"
  echo "CONF-END $1 $2 $3 1 0" >>"$log"
}
verdict() { # the program's check column and the closing line
  CONF_GUEST_OUT=$t/out "$run" --from-guest "$log" --expected "$t/exp.txt" >"$t/out.txt" 2>&1 || true
  printf '%s %s' "$(awk -F'\t' -v p="$1" '$1 == p { print $2 "/" $9 }' "$t/out/results.tsv")" "$(tail -n 1 "$t/out.txt")"
}
TAP_KMEM=$'TAP version 13\nok 1 - find memory cgroup\nnot ok 2 - memory kernel is set correctly\nok 3 - memory oom is set correctly\n1..3'
TAP_OOM=$'TAP version 13\nok 1 - find memory cgroup\nok 2 - memory kernel is set correctly\nnot ok 3 - memory oom is set correctly\n1..3'
TAP_OK=$'TAP version 13\nok 1 - fine\n1..1'

facts; prog prog_fake_zero 1 0 'TAP version 13'
check "0 test points, exit 0, not expected: NOTESTS, a failure" "NOTESTS/unexpected 0 passed, 1 failed, 0 skipped" "$(verdict prog_fake_zero)"
facts; prog prog_notests_ok 1 0 ''
check "0 test points expected (notests)" "NOTESTS/ok 0 passed, 0 failed, 1 skipped" "$(verdict prog_notests_ok)"
facts; prog prog_notests_ok 1 0 $'TAP version 13\n  ---\n  error: hooks not run\n  ...'
check "notests program that reports an error block" "FAIL/unexpected 0 passed, 1 failed, 0 skipped" "$(verdict prog_notests_ok)"
facts; prog prog_notests_ok 1 2 ''
check "notests program that exits 2" "FAIL/unexpected 0 passed, 1 failed, 0 skipped" "$(verdict prog_notests_ok)"
facts; prog prog_point 1 0 "$TAP_KMEM"
check "expected point fails (condition v1:memory holds)" "FAIL/ok 0 passed, 0 failed, 1 skipped" "$(verdict prog_point)"
facts; prog prog_point 1 0 "$TAP_OOM"
check "other point fails (its expectation wants cgroup-v2)" "FAIL/unexpected 0 passed, 1 failed, 0 skipped" "$(verdict prog_point)"
facts; prog prog_stale 1 0 "$TAP_OK"
check "expected point absent: no stale report" "PASS/ok 1 passed, 0 failed, 0 skipped" "$(verdict prog_stale)"
facts; prog prog_stale 1 0 "$TAP_OOM"
check "expected point passes: UNEXPECTED PASS" "FAIL/unexpected 0 passed, 1 failed, 0 skipped" "$(verdict prog_stale)"
facts; prog prog_racy 1 1 "$TAP_KMEM"; prog prog_racy 2 0 "$TAP_OK"; prog prog_racy 3 1 "$TAP_KMEM"
check "racy: passed 1 of 3 tries" "PASS/ok 1 passed, 0 failed, 0 skipped" "$(verdict prog_racy)"
check "racy: says 1 of 3" 1 "$(grep -c 'racy: passed 1 of 3 tries' "$t/out.txt")"
facts; prog prog_racy_never 1 1 "$TAP_KMEM"; prog prog_racy_never 2 1 "$TAP_KMEM"; prog prog_racy_never 3 1 "$TAP_KMEM"
check "racy: passed 0 of 3 tries is a failure" "FAIL/unexpected 0 passed, 1 failed, 0 skipped" "$(verdict prog_racy_never)"
TAP_PID=$'TAP version 13\nnot ok 1 - create works\n  ---\n  error: "exit status 1: davit: kill needs it to be created, running or paused"\n  ...\n1..1'
TAP_PID_OTHER=$'TAP version 13\nnot ok 1 - create works\n  ---\n  error: "wrong pid 12, expected 13"\n  ...\n1..1'
facts; prog prog_flaky 1 0 "$TAP_PID"; prog prog_flaky 2 0 "$TAP_OK"; prog prog_flaky 3 0 "$TAP_PID"
check "flaky: the named error in 2 of 3 tries" "FAIL/ok 0 passed, 0 failed, 1 skipped" "$(verdict prog_flaky)"
check "flaky: says 1 of 3" 1 "$(grep -c 'flaky: passed 1 of 3 tries' "$t/out.txt")"
facts; prog prog_flaky 1 0 "$TAP_PID"; prog prog_flaky 2 0 "$TAP_PID_OTHER"; prog prog_flaky 3 0 "$TAP_OK"
check "flaky: another error of the same point is a failure" "FAIL/unexpected 0 passed, 1 failed, 0 skipped" "$(verdict prog_flaky)"
facts; prog prog_glob_x 1 1 'TAP version 13'
check "glob program, program-level failure, !v1:hugetlb holds" "FAIL/ok 0 passed, 0 failed, 1 skipped" "$(verdict prog_glob_x)"
printf 'CONF-FACT %s\n' cgroup-v1 v1:hugetlb kernel=6.1 >"$log"; prog prog_glob_x 1 1 'TAP version 13'
check "glob program on a board with hugetlb: a failure" "FAIL/unexpected 0 passed, 1 failed, 0 skipped" "$(verdict prog_glob_x)"
facts; prog prog_kernel 1 0 "$TAP_KMEM"
check "#2 on kernel 6.1 (kernel>=6.0)" "FAIL/ok 0 passed, 0 failed, 1 skipped" "$(verdict prog_kernel)"
printf 'CONF-FACT %s\n' cgroup-v1 kernel=5.10 >"$log"; prog prog_kernel 1 0 "$TAP_KMEM"
check "#2 on kernel 5.10: a failure" "FAIL/unexpected 0 passed, 1 failed, 0 skipped" "$(verdict prog_kernel)"
facts; prog prog_timeout 1 137 $'TAP version 13\nok 1 - fine'
sed -i 's/^CONF-END prog_timeout 1 137 1 0$/CONF-END prog_timeout 1 137 120 1/' "$log"
check "timeout" "TIMEOUT/unexpected 0 passed, 1 failed, 0 skipped" "$(verdict prog_timeout)"

facts; prog prog_point 1 0 "$TAP_KMEM"; printf 'prog_point 1\nprog_lost 1\n' >"$t/list"
check "a listed program with no result (guest died)" "FAIL/unexpected 0 passed, 1 failed, 1 skipped" \
  "$(CONF_GUEST_LIST=$t/list verdict prog_lost)"

echo "$pass passed, $fail failed"
((fail == 0))
