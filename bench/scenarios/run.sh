#!/usr/bin/env bash
# Kiln vs Buildah, the whole matrix in one command (bench/README.md, "Kiln vs Buildah"):
#   bench/scenarios/run.sh [--quick] [--build-dir DIR] [--only SCENARIO] [--reps KIND=N] [--note TEXT]
# Builds kilnctl and kilnd (Release, in DIR, default build/release) if they are missing, then runs
# runner.py, which writes bench/results/<date>.{json,md,png}. Run as root for the root figures;
# as an unprivileged user with a subuid range for the rootless ones (files get a -rootless suffix).
# Needs buildah, runc, gnuplot-nox and python3 (tools/setup.sh) and the base images
# (tools/images/build.sh). About 15 minutes on 2 cores; --quick (one run of each) about 5.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

build=$repo/build/release
args=()
while [ $# -gt 0 ]; do
  case $1 in
    --build-dir) build=$(cd "$2" 2>/dev/null && pwd || echo "$2"); shift 2 ;;
    --build-dir=*) build=${1#*=}; shift ;;
    *) args+=("$1"); shift ;;
  esac
done

missing=()
for cmd in /usr/bin/python3 buildah gnuplot; do
  command -v "$cmd" >/dev/null || missing+=("$cmd")
done
command -v runc >/dev/null || command -v crun >/dev/null || missing+=(runc)
if [ ${#missing[@]} -gt 0 ]; then
  echo "run.sh: missing ${missing[*]}: run tools/setup.sh (as root) first" >&2
  exit 1
fi

if [ ! -x "$build/tools/kilnctl/kilnctl" ] || [ ! -x "$build/tools/kilnd/kilnd" ]; then
  echo "run.sh: building kilnctl and kilnd (Release) in $build"
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" >/dev/null
  cmake --build "$build" --target kilnctl kilnd
fi

exec /usr/bin/python3 -B "$here/runner.py" --build-dir "$build" "${args[@]}"
