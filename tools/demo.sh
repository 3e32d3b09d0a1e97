#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine (as root): installs what Kiln needs, builds
# Kiln, makes the base images from Debian packages, builds the multi-stage example
# (tools/demo/multi-stage: a Go builder stage and a `FROM scratch` runtime stage) into an
# image in Kiln's store, and runs that image.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)

./tools/setup.sh
build=${KILN_DEMO_BUILD_DIR:-$src/build/release}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKILN_BUILD_TESTS=OFF \
  -DKILN_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" --target kilnctl kilnd

./tools/images/build.sh
images=${KILN_IMAGES_DIR:-/var/cache/kiln/images}
kilnctl="$build/tools/kilnctl/kilnctl"

# Import the base images once (import is idempotent: same digest, same ref).
"$kilnctl" image import "$images/busybox-1.35" --name busybox:1.35
"$kilnctl" image import "$images/golang-1.19" --name golang:1.19

echo "== kilnctl build tools/demo/multi-stage -t kiln-demo:latest"
"$kilnctl" build --progress plain tools/demo/multi-stage -t kiln-demo:latest
"$kilnctl" image ls
echo "== kilnctl run kiln-demo:latest"
"$kilnctl" run kiln-demo:latest
