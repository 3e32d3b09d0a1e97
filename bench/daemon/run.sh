#!/usr/bin/env bash
# Scenario benchmark for kilnd + kilnctl, timing whole `kilnctl` processes (CLI start to exit).
#   bench/daemon/run.sh [BUILD_DIR] [RUNS]
# BUILD_DIR defaults to build-rel (a Release build of kilnd and kilnctl); RUNS to 20.
# It starts a private kilnd (temp --root and socket), imports the base images from
# ${KILN_IMAGES_DIR:-/var/cache/kiln/images}, and measures:
#   - no-op rebuild of examples/multi-stage (target < 15 ms)
#   - no-op rebuild of examples/big-context with 10,000 files (target < 60 ms)
#   - kilnd RSS when idle and after 100 builds (no-op rebuilds of multi-stage)
# Prints median / min / max in ms per scenario. Stops the daemon and removes its state at exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${1:-$repo/build-rel}
runs=${2:-20}
shared=${KILN_SHARED_DIR:-$repo/../shared}
images=${KILN_IMAGES_DIR:-/var/cache/kiln/images}
kilnd=$build/tools/kilnd/kilnd
kilnctl=$build/tools/kilnctl/kilnctl
[ -x "$kilnd" ] && [ -x "$kilnctl" ] || { echo "FATAL: build kilnd and kilnctl in $build first" >&2; exit 1; }

work=$(mktemp -d /tmp/kiln-bench-daemon-XXXXXX)
sock=$work/kilnd.sock
addr=unix://$sock
pid=
cleanup() {
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Base images go into the state root before kilnd starts (`kilnctl image` runs in-process today).
for img in busybox-1.35 golang-1.19; do
  "$kilnctl" image --root "$work/root" import "$images/$img" --name "${img/-/:}" >/dev/null
done
"$kilnd" --addr "$addr" --root "$work/root" --config /dev/null 2>"$work/kilnd.log" &
pid=$!
for _ in $(seq 1 300); do [ -S "$sock" ] && "$kilnctl" du --addr "$addr" >/dev/null 2>&1 && break; sleep 0.1; done

rss() { awk '/VmRSS/ {print $2 " kB"}' "/proc/$pid/status"; }
echo "kilnd idle RSS: $(rss)"

now_ns() { date +%s%N; }
# time_runs NAME ARGS...: runs `kilnctl ARGS` $runs times, prints median/min/max ms.
time_runs() {
  local name=$1; shift
  local times=()
  for _ in $(seq 1 "$runs"); do
    local t0; t0=$(now_ns)
    "$kilnctl" "$@" >/dev/null 2>&1 || { echo "$name: kilnctl failed" >&2; return 1; }
    times+=($(( ($(now_ns) - t0) / 1000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk -v name="$name" '
    { v[NR] = $1 } END { printf "%-28s median %7.2f ms  min %7.2f ms  max %7.2f ms  (n=%d)\n",
      name, v[int((NR + 1) / 2)] / 1000, v[1] / 1000, v[NR] / 1000, NR }'
}

ms=$shared/examples/multi-stage
"$kilnctl" build --addr "$addr" --progress quiet "$ms" >/dev/null
time_runs "multi-stage no-op" build --addr "$addr" --progress quiet "$ms"

big=$work/big-context
sh "$shared/examples/big-context/make-context.sh" "$big" >/dev/null
"$kilnctl" build --addr "$addr" --progress quiet "$big" >/dev/null
time_runs "big-context no-op" build --addr "$addr" --progress quiet "$big"

for _ in $(seq 1 100); do "$kilnctl" build --addr "$addr" --progress quiet "$ms" >/dev/null; done
echo "kilnd RSS after 100 more builds: $(rss)"
