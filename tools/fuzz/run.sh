#!/usr/bin/env bash
# Builds the Dockerfile fuzzer with clang (libFuzzer + ASan + UBSan) in its own build dir and
# runs it for N seconds (default 30), seeded with the conformance corpus and the example
# Dockerfiles. Exits non-zero when the fuzzer finds a crash, a sanitizer error or a leak.
#
# usage: tools/fuzz/run.sh [SECONDS]
# env:   KILN_SHARED_DIR (default: ../shared next to the repo root)
#        KILN_FUZZ_BUILD_DIR (default: <repo>/build/fuzz)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
seconds=${1:-30}
shared=${KILN_SHARED_DIR:-$src/../shared}
build=${KILN_FUZZ_BUILD_DIR:-$src/build/fuzz}
cxx=${CXX_FUZZ:-clang++}

if [ ! -d "$shared/conformance/dockerfile" ]; then
  echo "fuzz: no conformance corpus at $shared/conformance/dockerfile (set KILN_SHARED_DIR)" >&2
  exit 2
fi
command -v "$cxx" >/dev/null || { echo "fuzz: $cxx not found (apt-get install clang)" >&2; exit 2; }

mkdir -p "$build/obj" "$build/corpus" "$build/seeds"
flags=(-std=c++20 -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
       -fno-omit-frame-pointer -I"$src" -Wall -Wextra -Wno-missing-field-initializers)
sources=("$src"/engine/frontend/*.cc "$src"/engine/graph/*.cc "$src/engine/oci/image_config.cc"
         "$src/engine/oci/reference.cc" "$src/base/path.cc"
         "$src/base/digest.cc" "$src/base/status.cc" "$here/fuzz_dockerfile.cc")
headers_newest=$(find "$src/engine/frontend" "$src/engine/graph" "$src/engine/oci" "$src/base" \
  -name '*.h' -printf '%T@\n' | sort -n | tail -1)

objs=()
todo=()
for f in "${sources[@]}"; do
  o="$build/obj/$(echo "${f#$src/}" | tr '/' '_').o"
  objs+=("$o")
  if [ ! -f "$o" ] || [ "$f" -nt "$o" ] || \
     [ "$(stat -c %Y "$o")" -lt "${headers_newest%.*}" ]; then
    todo+=("$f" "$o")
  fi
done
if [ "${#todo[@]}" -gt 0 ]; then
  printf '%s\0' "${todo[@]}" |
    xargs -0 -r -P "$(nproc)" -n 2 sh -c "$cxx ${flags[*]} -c \"\$0\" -o \"\$1\""
fi

libs=$(pkg-config --libs absl_statusor absl_strings absl_str_format absl_hash absl_raw_hash_set \
  absl_synchronization libxxhash libcrypto)
"$cxx" -fsanitize=fuzzer,address,undefined "${objs[@]}" $libs -o "$build/fuzz_dockerfile"

# Seeds: every conformance Dockerfile and example Dockerfile, copied with unique names.
i=0
while IFS= read -r -d '' f; do
  cp "$f" "$build/seeds/seed-$i"
  i=$((i + 1))
done < <(find "$shared/conformance/dockerfile" "$shared/examples" -type f \
           \( -name 'Dockerfile*' -o -name 'envVarTest' -o -name 'wordsTest' \) -print0)
echo "fuzz: $i seeds, running for ${seconds}s"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$build"
./fuzz_dockerfile -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
  -print_final_stats=1 corpus seeds
