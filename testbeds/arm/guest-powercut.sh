# shellcheck shell=sh
# Runs in the arm64 board at every boot of testbeds/arm/powercut.sh. The board's state lives
# on its virtio disk (ext4, /dev/vda at /data): the supervisor's state directory (store,
# bundles, volumes, releases) and its config directory (app files). At each boot:
#  1. `davit supervise` starts (it undoes an install the last power cut interrupted);
#  2. the first boot installs the factory release; later boots check the invariant: nothing
#     pending, the current release is the one before the cut or the one being installed,
#     every app runs from the bundle that release names, the config directory holds that
#     release's app files, `davit store verify` is clean;
#  3. with ARM=1 (powercut.env), it installs the next release and waits for the power to go.
# Releases are made here from /payload/images (built on the host by powercut.sh): two apps on
# one image, cycling through the tags a, b and c, so that with the current and the previous
# release kept every install stores and unpacks a layer again; in every fourth release pctwo
# runs image x, which exits at once: that release rolls back.
# Console lines for the host: "guest: check trial=N current=V (old|new)", "guest: install:
# <progress>" (with busybox time -v's lines: wall time, peak RSS), "POWERCUT-ARMED trial=N",
# "guest: installed trial=N in S s".
# shellcheck source=guest-lib.sh
. /guest-lib.sh
. /powercut.env
DAVIT=/payload/davit W=/run/w D=/data
S=$D/state C=$D/apps
mkdir -p "$W" "$D"
mount -t ext4 /dev/vda "$D" || { say "cannot mount the disk"; exit 1; }
mkdir -p "$S" "$C"

fail() { say "check FAILED: $*"; tail -n 30 "$W/daemon.log"; exit 1; }

# put FILE TEXT: FILE durably replaced by TEXT (the trial counter survives the cut).
put() { printf '%s\n' "$2" >"$1.tmp" && sync && mv "$1.tmp" "$1" && sync; }

# release N TAG [TWO_TAG]: release tN, app pcone on image TAG, pctwo on TWO_TAG (default TAG).
release() {
  _r=/tmp/r$1
  mkdir -p "$_r/apps" &&
    printf 'version = "t%s"\nconfirm_timeout = "120s"\nwatch = "2s"\n' "$1" >"$_r/release.toml" &&
    printf 'image = "%s"\nenvironment = ["TRIAL=%s"]\n' "$2" "$1" >"$_r/apps/pcone.toml" &&
    printf 'image = "%s"\nenvironment = ["TRIAL=%s"]\n' "${3:-$2}" "$1" >"$_r/apps/pctwo.toml" &&
    cp -a /payload/images "$_r/images" && echo "$_r"
}

install() {
  _dir=$1
  shift
  "$BUSYBOX" time -v "$DAVIT" release install "$_dir" --state-dir "$S" --config-dir "$C" --socket "$W/sock" "$@" 2>&1 |
    while IFS= read -r l; do say "install: $l"; done
}

"$DAVIT" --root /run/davit supervise --config-dir "$C" --state-dir "$S" --socket "$W/sock" \
  --bus none </dev/null >>"$W/daemon.log" 2>&1 &
DPID=$!
wait_for 120 "answer from the daemon (pid $DPID)" api_answers || fail "the daemon did not start"

current() {
  "$DAVIT" release status --json --state-dir "$S" --config-dir "$C" |
    sed -n 's/^ *"current": "\([^"]*\)",\{0,1\}$/\1/p'
}

# runs_from NAME BUNDLE: the app is running, from BUNDLE.
runs_from() { status "$1" && [ "$(field state)" = running ] && [ "$(field bundle)" = "$2" ]; }

if [ ! -e "$D/trial" ]; then
  # What the binary alone takes, beside the installer's peak RSS.
  rss=$("$BUSYBOX" time -v "$DAVIT" --version 2>&1 >/dev/null |
    sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p')
  say "idle davit peak RSS: $rss KiB"
  r=$(release 0 a) || fail "cannot write release 0"
  install "$r" --factory
  put "$D/trial" "0 t0"
fi

read -r trial before <"$D/trial"
cur=$(current)
st=$("$DAVIT" release status --json --state-dir "$S" --config-dir "$C")
case $st in *'"pending": {'*) fail "an install is still pending: $st" ;; esac
case $cur in
  "t$trial") which=new ;;
  "$before") which=old ;;
  *) fail "current release is '$cur', neither the one before trial $trial ($before) nor t$trial" ;;
esac
n=0
for f in "$S/releases/$cur/apps/"*.toml; do
  name=${f##*/} name=${name%.toml}
  cmp -s "$f" "$C/$name.toml" || fail "$C/$name.toml is not release $cur's"
  want=$(sed -n 's/^bundle = "\(.*\)"$/\1/p' "$f")
  wait_for 120 "$name running from $want" runs_from "$name" "$want" ||
    fail "$name: $(field state), bundle $(field bundle), not $want"
  n=$((n + 1))
done
[ "$n" = 2 ] || fail "release $cur has $n apps, not 2"
files=$(find "$C" -mindepth 1 -maxdepth 1 | wc -l)
[ "$files" = 2 ] || fail "the config directory holds $files files: $(find "$C" -mindepth 1)"
out=$("$DAVIT" store verify --store "$S/store" 2>&1) || fail "store verify: $out"
say "check trial=$trial current=$cur ($which) ok"

[ "$ARM" = 1 ] || exit 0
next=$((trial + 1))
case $((next % 3)) in 0) tag=a ;; 1) tag=b ;; *) tag=c ;; esac
# Every fourth release fails: pctwo's image exits at once, and the release rolls back.
two=$tag
[ $((next % 4)) = 0 ] && two=x
r=$(release "$next" "$tag" "$two") || fail "cannot write release $next"
put "$D/trial" "$next $cur"
echo "POWERCUT-ARMED trial=$next"
t0=$(now)
install "$r"
say "installed trial=$next in $(($(now) - t0)) s"
# The host cuts the power; this is only the bound.
sleep 600
