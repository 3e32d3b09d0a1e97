#!/bin/sh
# Differential test, Kiln against Buildah 1.28 (see README.md). Runs as root.
# usage: tests/differential/run.sh [KILNCTL [FILTER [--keep] [-v] [--jobs N]]]
#   KILNCTL defaults to build/asan/tools/kilnctl/kilnctl; kilnd is ../kilnd/kilnd beside it.
#   FILTER is a regular expression on case names ("" or "." for all).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
kilnctl=${1:-$repo/build/asan/tools/kilnctl/kilnctl}
[ $# -gt 0 ] && shift
filter=${1:-}
[ $# -gt 0 ] && shift
case $kilnctl in /*) ;; *) kilnctl=$(pwd)/$kilnctl ;; esac
kilnd=$(dirname "$(dirname "$kilnctl")")/kilnd/kilnd
if [ "$(id -u)" -ne 0 ]; then
  echo "run.sh: must run as root (Buildah with runc and kilnd need it)" >&2
  exit 2
fi
if [ ! -x "$kilnctl" ] || [ ! -x "$kilnd" ]; then
  if [ "$kilnctl" = "$repo/build/asan/tools/kilnctl/kilnctl" ]; then
    # From a clean clone: configure and build the two binaries first (the project's usual flags).
    echo "run.sh: building kilnctl and kilnd in $repo/build/asan" >&2
    [ -f "$repo/build/asan/build.ninja" ] || cmake -S "$repo" -B "$repo/build/asan" -G Ninja \
      -DCMAKE_BUILD_TYPE=Debug -DKILN_SANITIZE=ON >&2
    cmake --build "$repo/build/asan" -j2 --target kilnctl kilnd >&2
  fi
fi
for bin in "$kilnctl" "$kilnd"; do
  if [ ! -x "$bin" ]; then
    echo "run.sh: find '$bin': missing; build it first (cmake --build build/asan --target kilnctl kilnd)" >&2
    exit 2
  fi
done
command -v buildah >/dev/null || { echo "run.sh: find 'buildah': not installed (tools/setup.sh)" >&2; exit 2; }
cd "$here"
python3 -B oci_tree_test.py -q
set -- --kilnctl "$kilnctl" --kilnd "$kilnd" "$@"
[ -n "$filter" ] && set -- "$@" --filter "$filter"
exec python3 -B harness.py "$@"
