#!/usr/bin/env bash
# The test command: installs dependencies, builds Kiln with ASan+UBSan, prepares the test
# users and base images, and runs the whole test suite (as root, and the rootless parts as an
# unprivileged user). Run as root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)

./tools/setup.sh
./tools/setup-test-user.sh

build=${KILN_TEST_BUILD_DIR:-$src/build/asan}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DKILN_SANITIZE=ON \
  -DKILN_SHARED_DIR="$(cd .. && pwd)/shared" >/dev/null
cmake --build "$build" -j "$(nproc)"

# Base images (busybox:1.35, golang:1.19) from Debian packages; built once, then reused.
./tools/images/build.sh

# A short run of every libFuzzer target (clang: the Dockerfile frontend, OCI documents, the
# WWW-Authenticate parser, the layer applier), each seeded; a crash fails the run.
./tools/fuzz/run.sh "${KILN_FUZZ_SECONDS:-15}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$build" --output-on-failure -j "$(nproc)" --timeout 900
