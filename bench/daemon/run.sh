#!/usr/bin/env bash
# Scenario benchmark for kilnd + kilnctl: whole `kilnctl` processes (CLI start to exit) against a
# warm kilnd, timed with hyperfine.
#   bench/daemon/run.sh [BUILD_DIR] [RUNS]
# BUILD_DIR: a Release build with kilnd, kilnctl and kilnctl-local (default build-rel); RUNS: per
# scenario (default 30). It starts a private kilnd (temp --root and socket, no config), imports
# the base images from ${KILN_IMAGES_DIR:-/var/cache/kiln/images} through it, and reports:
#   1. no-op rebuild of examples/multi-stage, `kilnctl build -t x DIR` (target < 15 ms)
#   2. no-op rebuild of examples/big-context, 10,000 files (target < 60 ms)
#   3. kilnd resident memory: idle (started, images imported), after the warm-up builds, and
#      after 100 more builds
# For 1 and 2: wall time (median, min, max), kilnctl's own CPU (user + sys, mean) and kilnd's
# CPU per build (utime + stime from /proc/PID/stat over all timed runs). The CPU figures hold
# up on a busy machine; wall times do not.
# Stops the daemon and removes its state at exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${1:-$repo/build-rel}
runs=${2:-30}
shared=${KILN_SHARED_DIR:-$repo/../shared}
images=${KILN_IMAGES_DIR:-/var/cache/kiln/images}
kilnd=$build/tools/kilnd/kilnd
kilnctl=$build/tools/kilnctl/kilnctl
for bin in "$kilnd" "$kilnctl" "$build/tools/kilnctl/kilnctl-local"; do
  [ -x "$bin" ] || { echo "FATAL: $bin is missing: build kilnd and kilnctl in $build" >&2; exit 1; }
done
command -v hyperfine >/dev/null || { echo "FATAL: hyperfine is missing (tools/setup.sh)" >&2; exit 1; }

work=$(mktemp -d /tmp/kiln-bench-daemon-XXXXXX)
sock=$work/kilnd.sock
addr=unix://$sock
pid=
cleanup() {
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$kilnd" --addr "$addr" --root "$work/root" --config /dev/null 2>"$work/kilnd.log" &
pid=$!
for _ in $(seq 1 300); do "$kilnctl" du --addr "$addr" >/dev/null 2>&1 && break; sleep 0.1; done
for img in busybox-1.35 golang-1.19; do
  "$kilnctl" image import --addr "$addr" "$images/$img" --name "${img/-/:}" >/dev/null
done

rss() { awk '/VmRSS/ {print $2 " kB"}' "/proc/$pid/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }  # utime + stime, clock ticks
hz=$(getconf CLK_TCK)
echo "kilnd RSS idle (started, base images imported): $(rss)"

# measure NAME ARGS...: hyperfine over `kilnctl ARGS`, then one summary line.
measure() {
  local name=$1; shift
  local csv=$work/$name.csv cmd=("$kilnctl" "$@") before after
  before=$(cpu_ticks)
  hyperfine -N --style none --warmup 3 --runs "$runs" --export-csv "$csv" \
    "$(printf '%q ' "${cmd[@]}")" >/dev/null
  after=$(cpu_ticks)
  # csv: command,mean,stddev,median,user,system,min,max (seconds); kilnd ran runs+3 builds.
  tail -n 1 "$csv" | awk -F, -v name="$name" -v d=$((after - before)) -v n=$((runs + 3)) \
    -v hz="$hz" '{ printf "%-20s wall median %6.1f ms (min %6.1f, max %6.1f) | kilnctl CPU %5.1f ms | kilnd CPU %5.1f ms/build (n=%d)\n",
      name, $4 * 1000, $7 * 1000, $8 * 1000, ($5 + $6) * 1000, d * 1000 / hz / n, n - 3 }'
}

ms=$shared/examples/multi-stage
"$kilnctl" build --addr "$addr" --progress quiet -t x "$ms" >/dev/null 2>&1
"$kilnctl" build --addr "$addr" --progress quiet -t x "$ms" >/dev/null 2>&1
big=$work/big-context
sh "$shared/examples/big-context/make-context.sh" "$big" >/dev/null
"$kilnctl" build --addr "$addr" --progress quiet -t big "$big" >/dev/null 2>&1
"$kilnctl" build --addr "$addr" --progress quiet -t big "$big" >/dev/null 2>&1
echo "kilnd RSS after the warm-up builds: $(rss)"

measure "multi-stage no-op" build --addr "$addr" --progress quiet -t x "$ms"
measure "big-context no-op" build --addr "$addr" --progress quiet -t big "$big"

for _ in $(seq 1 100); do "$kilnctl" build --addr "$addr" --progress quiet -t x "$ms" >/dev/null; done
echo "kilnd RSS after 100 more builds: $(rss)"
echo "kilnd RSS idle again (1 s later): $(sleep 1; rss)"
