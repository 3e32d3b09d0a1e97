#!/usr/bin/env bash
# Builds Kiln's libFuzzer targets with clang (libFuzzer + ASan + UBSan) in their own build dir
# and runs each for N seconds (default 30), seeded. Exits non-zero when a fuzzer finds a
# crash, a sanitizer error or a leak; the reproducer is left in the target's directory.
#
# Targets (tools/fuzz/fuzz_*.cc):
#   dockerfile        the Dockerfile parser, lowering, shell lexer, .dockerignore matcher;
#                     seeds: the conformance corpus and the example Dockerfiles
#   oci               manifest / index / image config / descriptor parsing; seeds: the JSON
#                     documents of the base images in $KILN_IMAGES_DIR
#   www_authenticate  the registry client's WWW-Authenticate parser; seeds: seeds/www-authenticate
#   layer             the layer decoder and applier (tar, gzip, zstd), inside a user namespace
#                     of its own; seeds: small layers made here with tar, gzip and zstd
#
# usage: tools/fuzz/run.sh [SECONDS] [TARGET...]      (default: every target)
# env:   KILN_SHARED_DIR (default: ../shared next to the repo root)
#        KILN_FUZZ_BUILD_DIR (default: <repo>/build/fuzz)
#        KILN_IMAGES_DIR (default: /var/cache/kiln/images)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
seconds=${1:-30}
shift || true
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(dockerfile oci www_authenticate layer)
shared=${KILN_SHARED_DIR:-$src/../shared}
build=${KILN_FUZZ_BUILD_DIR:-$src/build/fuzz}
images=${KILN_IMAGES_DIR:-/var/cache/kiln/images}
cxx=${CXX_FUZZ:-clang++}

if [ ! -d "$shared/conformance/dockerfile" ]; then
  echo "fuzz: no conformance corpus at $shared/conformance/dockerfile (set KILN_SHARED_DIR)" >&2
  exit 2
fi
command -v "$cxx" >/dev/null || { echo "fuzz: $cxx not found (apt-get install clang)" >&2; exit 2; }

base_srcs=("$src/base/digest.cc" "$src/base/status.cc" "$src/base/path.cc")
sources_for() {
  case "$1" in
    dockerfile) echo "$src"/engine/frontend/*.cc "$src"/engine/graph/*.cc \
                     "$src/engine/oci/image_config.cc" "$src/engine/oci/reference.cc" ;;
    oci) echo "$src"/engine/oci/{manifest,descriptor,image_config,json_util}.cc ;;
    www_authenticate) echo "$src"/engine/registry/{auth,errors,http}.cc ;;
    layer) echo "$src"/snapshotter/diff/{applier,layer_decoder,layer_encoder,zstd_frame_encoder,tar_reader,rooted_dir,fs_util,sink}.cc \
                "$src/base/fs.cc" "$src/base/thread_pool.cc" ;;
    *) echo "fuzz: unknown target '$1' (dockerfile, oci, www_authenticate, layer)" >&2; return 2 ;;
  esac
}
libs_for() {
  local absl="absl_statusor absl_strings absl_str_format absl_hash absl_raw_hash_set \
              absl_synchronization absl_time"
  case "$1" in
    www_authenticate) pkg-config --libs $absl libxxhash libcrypto libcurl ;;
    layer) echo "$(pkg-config --libs $absl libxxhash libcrypto libzstd zlib) -ldeflate -lpthread" ;;
    *) pkg-config --libs $absl libxxhash libcrypto ;;
  esac
}

mkdir -p "$build/obj"
flags=(-std=c++20 -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
       -fno-omit-frame-pointer -I"$src" -Wall -Wextra -Wno-missing-field-initializers)
headers_newest=$(find "$src/engine" "$src/snapshotter" "$src/base" -name '*.h' -printf '%T@\n' |
  sort -n | tail -1)

# Compile every object the chosen targets need (each once, in parallel), then link each.
declare -A all_objs=()
todo=()
for t in "${targets[@]}"; do
  srcs=$(sources_for "$t")
  for f in $srcs "${base_srcs[@]}" "$here/fuzz_$t.cc"; do
    o="$build/obj/$(echo "${f#$src/}" | tr '/' '_').o"
    [ -n "${all_objs[$o]:-}" ] && continue
    all_objs[$o]=1
    if [ ! -f "$o" ] || [ "$f" -nt "$o" ] || \
       [ "$(stat -c %Y "$o")" -lt "${headers_newest%.*}" ]; then
      todo+=("$f" "$o")
    fi
  done
done
if [ "${#todo[@]}" -gt 0 ]; then
  printf '%s\0' "${todo[@]}" |
    xargs -0 -r -P "$(nproc)" -n 2 sh -c "$cxx ${flags[*]} -c \"\$0\" -o \"\$1\""
fi
for t in "${targets[@]}"; do
  objs=()
  for f in $(sources_for "$t") "${base_srcs[@]}" "$here/fuzz_$t.cc"; do
    objs+=("$build/obj/$(echo "${f#$src/}" | tr '/' '_').o")
  done
  # shellcheck disable=SC2046
  "$cxx" -fsanitize=fuzzer,address,undefined "${objs[@]}" $(libs_for "$t") -o "$build/fuzz_$t"
done

# Seeds, rebuilt on every run.
make_seeds() {
  local t=$1 dir=$2 i=0
  case "$t" in
    dockerfile)
      while IFS= read -r -d '' f; do
        cp "$f" "$dir/seed-$i"; i=$((i + 1))
      done < <(find "$shared/conformance/dockerfile" "$shared/examples" -type f \
                 \( -name 'Dockerfile*' -o -name 'envVarTest' -o -name 'wordsTest' \) -print0) ;;
    oci)
      # index.json files and the small JSON blobs (manifests, indexes, configs) of the images.
      while IFS= read -r -d '' f; do
        if [ "$(head -c1 "$f")" = "{" ]; then cp "$f" "$dir/seed-$i"; i=$((i + 1)); fi
      done < <(find "$images" -type f -size -64k -print0 2>/dev/null)
      printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}' \
        > "$dir/seed-empty-index" ;;
    www_authenticate)
      cp "$here"/seeds/www-authenticate/* "$dir/" ;;
    layer)
      local tree="$dir/../layer-tree"
      rm -rf -- "$tree"; mkdir -p "$tree/d/e"
      echo hello > "$tree/d/f"; ln -s ../d/f "$tree/d/e/link"; ln "$tree/d/f" "$tree/d/hard"
      : > "$tree/d/.wh.gone"; : > "$tree/d/e/.wh..wh..opq"; chmod 4755 "$tree/d/f"
      tar -C "$tree" -cf "$dir/seed-plain.tar" .
      tar -C "$tree" --format=pax -cf "$dir/seed-pax.tar" .
      gzip -c "$dir/seed-plain.tar" > "$dir/seed.tar.gz"
      zstd -q -c "$dir/seed-plain.tar" > "$dir/seed.tar.zst"
      rm -rf -- "$tree" ;;
  esac
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
for t in "${targets[@]}"; do
  dir="$build/$t"
  rm -rf -- "$dir/seeds"
  mkdir -p "$dir/corpus" "$dir/seeds"
  make_seeds "$t" "$dir/seeds"
  echo "fuzz: $t: $(ls "$dir/seeds" | wc -l) seeds, running for ${seconds}s"
  (cd "$dir" && "$build/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
     -max_len=$([ "$t" = layer ] && echo 65536 || echo 8192) -print_final_stats=1 corpus seeds)
done
