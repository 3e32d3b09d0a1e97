#!/bin/bash
# tests/chaos/full_disk.sh: kilnd's state root on a 96 MB tmpfs the script mounts in its own
# temp dir (unmounted at the end, also on failure). A build whose RUN overflows it must fail
# with an error naming the step and saying "no space left on device"; kilnd must stay up; prune
# must free the space; `kilnctl debug verify` must report zero problems; and the next build
# that fits must succeed. Prints the figures (used space before, when full, after prune).
# Env: KILN_BUILD_DIR (default build/asan of this repo), KILN_IMAGES_DIR.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD=${KILN_BUILD_DIR:-$REPO/build/asan}
IMAGES=${KILN_IMAGES_DIR:-/var/cache/kiln/images}
KILND=$BUILD/tools/kilnd/kilnd
KILNCTL=$BUILD/tools/kilnctl/kilnctl
for f in "$KILND" "$KILNCTL" "$IMAGES/busybox-1.35/index.json"; do
  [[ -e $f ]] || { echo "full_disk: missing $f" >&2; exit 2; }
done
T=$(mktemp -d /tmp/kiln-fulldisk-XXXXXX) || exit 2
[[ -n $T && -d $T && $T == /tmp/kiln-fulldisk-* ]] || exit 2
FS=$T/fs
SOCK=$T/run/kilnd.sock
ADDR=unix://$SOCK
KPID=0
MOUNTED=0

cleanup() {
  if [[ $KPID -gt 0 ]] && kill -0 "$KPID" 2>/dev/null; then
    kill -TERM "$KPID"
    for _ in $(seq 200); do kill -0 "$KPID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$KPID" 2>/dev/null
  fi
  [[ $MOUNTED == 1 ]] && umount -l "$FS"
  [[ $T == /tmp/kiln-fulldisk-* ]] && rm -rf --one-file-system "$T"
}
trap cleanup EXIT

k() { "$KILNCTL" --addr "$ADDR" "$@"; }
used_kb() { df -k --output=used "$FS" | tail -1 | tr -d ' '; }
die() { echo "full_disk: $*" >&2; tail -5 "$T/kilnd.log" >&2; exit 1; }

mkdir -p "$FS" "$T/run" "$T/big" "$T/small"
mount -t tmpfs -o size=96m,mode=0700 kiln-fulldisk "$FS" || die "mount tmpfs on $FS"
MOUNTED=1
setsid "$KILND" --addr "$ADDR" --root "$FS/state" --config /dev/null >"$T/kilnd.log" 2>&1 &
KPID=$!
deadline=$((SECONDS + 60))
until [[ -S $SOCK ]] && k image ls >/dev/null 2>&1; do
  ((SECONDS < deadline)) && kill -0 "$KPID" 2>/dev/null || die "kilnd did not come up"
  sleep 0.05
done
k image import "$IMAGES/busybox-1.35" --name busybox:1.35 >/dev/null || die "import busybox"
base_kb=$(used_kb)

printf 'FROM busybox:1.35\nRUN echo start > /start\nRUN dd if=/dev/zero of=/big bs=1M count=200\n' \
  >"$T/big/Dockerfile"
out=$(k build --progress plain "$T/big" 2>&1) && die "the overflowing build succeeded"
full_kb=$(used_kb)
grep -qi "no space left on device" <<<"$out" || die "no 'no space left on device' in: $out"
grep -qE "^ERROR: .*step '.*RUN dd if=/dev/zero" <<<"$out" || die "the error does not name the step: $out"
k image ls >/dev/null || die "kilnd does not answer after the full disk"
kill -0 "$KPID" || die "kilnd died"

k prune --all >/dev/null || die "prune"
pruned_kb=$(used_kb)
v=$(k debug verify 2>&1) || die "debug verify: $v"

printf 'FROM busybox:1.35\nRUN dd if=/dev/zero of=/small bs=1M count=8\nCOPY f /f\n' \
  >"$T/small/Dockerfile"
echo fits >"$T/small/f"
k build --progress plain -t fits:1 "$T/small" >"$T/small.log" 2>&1 || die "the build that fits failed: $(tail "$T/small.log")"
v=$(k debug verify 2>&1) || die "debug verify after the build: $v"
echo "full_disk: 96 MB tmpfs: ${base_kb} KB used with busybox, ${full_kb} KB after the overflow," \
  "${pruned_kb} KB after prune --all; the next build fit; verify clean"
echo "full_disk: the error:"; grep -iE "error|no space" <<<"$out" | tail -4
