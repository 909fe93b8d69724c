# shellcheck shell=sh
# Sourced by the guest scripts (busybox sh, as root): busybox bundles, a `davit supervise` in
# the background and bounded polling of its API. Needs DAVIT (the board's davit) and W (a
# scratch directory) set by the caller.

say() { echo "guest: $*"; }

# Seconds since boot, whole.
now() { cut -d. -f1 /proc/uptime; }

# wait_for SECS WHAT CMD...: runs CMD every 0.2 s until it succeeds; after SECS, says what it
# waited for and fails.
wait_for() {
  _wf_secs=$1 _wf_what=$2
  shift 2
  _wf_end=$(($(now) + _wf_secs))
  until "$@"; do
    if [ "$(now)" -ge "$_wf_end" ]; then
      say "  no $_wf_what within ${_wf_secs} s"
      return 1
    fi
    sleep 0.2
  done
}

# make_bundle DIR CGROUP SCRIPT: a busybox bundle whose process runs `sh /app.sh` (SCRIPT,
# written into the rootfs), in cgroup CGROUP, with $W/shared bound at /shared. config.json is
# `davit spec`'s, edited: args, terminal false, cgroupsPath, the bind mount.
make_bundle() {
  mkdir -p "$1/rootfs/bin" "$1/rootfs/dev" "$1/rootfs/proc" "$1/rootfs/sys" "$1/rootfs/tmp" \
    "$1/rootfs/etc" "$1/rootfs/shared" "$W/shared" || return 1
  cp "$BUSYBOX" "$1/rootfs/bin/busybox" || return 1
  for _mb_a in sh cat date echo mv sleep true; do
    ln -s busybox "$1/rootfs/bin/$_mb_a" || return 1
  done
  printf '%s\n' "$3" >"$1/rootfs/app.sh"
  "$DAVIT" spec --bundle "$1" || return 1
  awk -v cg="$2" -v shared="$W/shared" '
    /^    "args": \[$/ { print "    \"args\": [\"/bin/sh\", \"/app.sh\"],"; skip = 1; n++; next }
    skip && /^    \],?$/ { skip = 0; next }
    skip { next }
    /^    "terminal": / { print "    \"terminal\": false,"; n++; next }
    /^  "mounts": \[$/ {
      print
      print "    {\"destination\": \"/shared\", \"type\": \"bind\", \"source\": \"" shared "\", \"options\": [\"rbind\", \"rw\"]},"
      n++; next
    }
    /^  "linux": \{$/ { print; print "    \"cgroupsPath\": \"" cg "\","; n++; next }
    { print }
    END { if (n != 4) { print "make_bundle: " n " of 4 edits: davit spec changed its layout" > "/dev/stderr"; exit 1 } }
  ' "$1/config.json" >"$1/config.json.new" && mv "$1/config.json.new" "$1/config.json"
}

# write_app NAME TEXT: $W/apps/NAME.toml, whole (renamed into place: the daemon ignores
# hidden files).
write_app() {
  mkdir -p "$W/apps" && printf '%s\n' "$2" >"$W/apps/.$1.toml.tmp" &&
    mv "$W/apps/.$1.toml.tmp" "$W/apps/$1.toml"
}

# start_daemon [ARG...]: `davit --root $W/root supervise` on $W/sock, no bus, output appended to
# $W/daemon.log; sets DPID. Waits (60 s) until its API answers.
start_daemon() {
  "$DAVIT" --root "$W/root" supervise --config-dir "$W/apps" --state-dir "$W/state" \
    --socket "$W/sock" --bus none "$@" </dev/null >>"$W/daemon.log" 2>&1 &
  DPID=$!
  wait_for 60 "answer from the daemon (pid $DPID)" api_answers
}

api_answers() {
  alive "$DPID" || { say "  the daemon exited"; tail -n 20 "$W/daemon.log"; return 2; }
  "$DAVIT" app --socket "$W/sock" list >/dev/null 2>&1
}

# alive PID: the process exists and is not a zombie.
alive() {
  [ -r "/proc/$1/stat" ] || return 1
  case $(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) in Z | X | '') return 1 ;; esac
}

# stop_daemon [SECS]: SIGTERM, waits (default 60 s) for its exit; sets DRC (its status).
stop_daemon() {
  kill -TERM "$DPID" || return 1
  wait_for "${1:-60}" "exit of the daemon after SIGTERM" not_alive "$DPID" || return 1
  wait "$DPID"
  # shellcheck disable=SC2034 # for the caller
  DRC=$?
}

not_alive() { ! alive "$1"; }

# status NAME: `davit app status NAME --json` (one JSON object), into ST.
status() { ST=$("$DAVIT" app --socket "$W/sock" status "$1" --json 2>&1); }

# field KEY: KEY's value (string or number) in ST.
field() {
  printf '%s\n' "$ST" | sed -n -e "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" \
    -e "t" -e "s/.*\"$1\": *\([-0-9a-z.]*\).*/\1/p" | head -n 1
}

# state_is NAME STATE
state_is() { status "$1" && [ "$(field state)" = "$2" ]; }
