#!/usr/bin/env bash
# Registry scenario benchmark: Kiln against podman, buildah and skopeo, on this machine, in one
# run, interleaved rep by rep.
#   bench/registry/run.sh [BUILD_DIR] [REPS]
# BUILD_DIR: a Release build with kilnd and kilnctl (default build-rel); REPS (default 5).
#
# It starts its own docker-registry (Debian's distribution 2.8; temp config and storage, a free
# port on 127.0.0.1, plain HTTP), seeds golang:1.19 into it with skopeo from the OCI layout that
# tools/images/build.sh made, and measures:
#   pull   golang:1.19 (~130 MB compressed) into an empty store, each rep fresh:
#            kiln-pull      `kilnctl image pull` through a kilnd on a fresh state root (the blobs
#                           verified in the content store: what a build reads its base from)
#            kiln-pull+run  the same, then a first build `FROM it; RUN true` (layers unpacked
#                           into snapshots and one container run), for a like-for-like view
#                           against the tools below, which unpack at pull time
#            podman-pull    `podman pull` into a private store (overlay, --root/--runroot/--tmpdir)
#            buildah-pull   `buildah pull` into a private store (overlay)
#            skopeo-copy    `skopeo copy` to an OCI directory
#   push   the one-stage example (examples/normal-build, ~500 MB: golang:1.19 + a Go build),
#          built by Kiln with its base pulled from the registry (a docker.io mirror), to an
#          EMPTY registry each rep (stopped, storage wiped, restarted outside the timing):
#            kiln-push      `kilnctl image push`
#            kiln-push2     the same push again, unchanged image (target < 50 ms)
#            buildah-push   `buildah push` of the same image (pulled once into buildah's store)
#   noop   a no-op rebuild of the one-stage example, base pulled from the registry vs base
#          imported from the OCI layout (two kilnds), interleaved (target: within 10 %)
# podman, buildah and skopeo run in a private mount namespace with a temp dir over
# /var/lib/containers (they write a blob-info cache there as root whatever --root says), with
# their own containers.conf, registries.conf, storage.conf, HOME, TMPDIR and XDG_RUNTIME_DIR.
# Prints one line per measurement, then medians and ratios as Markdown; the raw timings go to
# $KILN_BENCH_OUT (default: not kept). Everything it starts is stopped by PID; its temp dir is
# removed at exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${1:-$repo/build-rel}
reps=${2:-5}
shared=${KILN_SHARED_DIR:-$repo/../shared}
images=${KILN_IMAGES_DIR:-/var/cache/kiln/images}
kilnd=$build/tools/kilnd/kilnd
kilnctl=$build/tools/kilnctl/kilnctl
for bin in "$kilnd" "$kilnctl"; do
  [ -x "$bin" ] || { echo "FATAL: $bin is missing: build kilnd and kilnctl in $build" >&2; exit 1; }
done
for tool in docker-registry podman buildah skopeo unshare curl python3; do
  command -v "$tool" >/dev/null || { echo "FATAL: $tool is not installed" >&2; exit 1; }
done
[ -d /var/lib/containers ] || { echo "FATAL: /var/lib/containers is missing" >&2; exit 1; }
[ -d "$images/golang-1.19" ] || { echo "FATAL: $images/golang-1.19 missing (tools/images/build.sh)" >&2; exit 1; }

work=$(mktemp -d /tmp/kiln-bench-registry-XXXXXX)
case "$work" in /tmp/kiln-bench-registry-?*) ;; *) echo "FATAL: bad temp dir" >&2; exit 1 ;; esac
reg_pid=
kilnd_pids=()
cleanup() {
  for p in "${kilnd_pids[@]}" $reg_pid; do
    kill -TERM "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# --- the registry --------------------------------------------------------------------------
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
host=127.0.0.1:$port
mkdir -p "$work/registry"
cat >"$work/registry/config.yml" <<EOF
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $work/registry/data}
  delete: {enabled: true}
  maintenance: {uploadpurging: {enabled: false}}
http:
  addr: $host
  secret: kiln-bench
EOF
reg_start() {
  docker-registry serve "$work/registry/config.yml" >>"$work/registry/log" 2>&1 &
  reg_pid=$!
  for _ in $(seq 1 200); do curl -fs "http://$host/v2/" >/dev/null && return 0; sleep 0.05; done
  echo "FATAL: the registry did not start: $(tail -5 "$work/registry/log")" >&2
  exit 1
}
reg_stop() {
  kill -TERM "$reg_pid"
  wait "$reg_pid" 2>/dev/null || true
  reg_pid=
}
reg_wipe() {  # an empty registry on the same port
  reg_stop
  rm -rf "$work/registry/data"
  reg_start
}

# --- podman, buildah, skopeo in a private mount namespace ------------------------------------
ctr=$work/containers
mkdir -p "$ctr/varlib" "$ctr/home" "$ctr/tmp" "$ctr/xdg"
: >"$ctr/containers.conf"
echo 'unqualified-search-registries = []' >"$ctr/registries.conf"
printf '[storage]\ndriver = "overlay"\nrunroot = "%s/run"\ngraphroot = "%s/root"\n' \
  "$ctr" "$ctr" >"$ctr/storage.conf"
ctr_env=(env HOME="$ctr/home" TMPDIR="$ctr/tmp" XDG_RUNTIME_DIR="$ctr/xdg"
  CONTAINERS_CONF="$ctr/containers.conf" CONTAINERS_REGISTRIES_CONF="$ctr/registries.conf"
  CONTAINERS_STORAGE_CONF="$ctr/storage.conf")
# in_ns CMD...: CMD with $ctr/varlib over /var/lib/containers, mounts private to CMD.
in_ns() {
  "${ctr_env[@]}" unshare -m --propagation private /bin/sh -c \
    'mount --bind "$1" /var/lib/containers || exit 99; shift; exec "$@"' sh "$ctr/varlib" "$@"
}
podman_cmd() {  # podman_cmd STORE ARGS...
  local s=$1; shift
  in_ns podman --root "$s/root" --runroot "$s/run" --tmpdir "$s/tmp" --storage-driver overlay \
    --events-backend none --cgroup-manager cgroupfs "$@"
}
buildah_cmd() {  # buildah_cmd STORE ARGS...
  local s=$1; shift
  in_ns buildah --root "$s/root" --runroot "$s/run" --storage-driver overlay "$@"
}
fresh_store() {  # a new empty store dir for podman/buildah
  local s
  s=$(mktemp -d "$work/store-XXXXXX")
  mkdir -p "$s/tmp"
  echo "$s"
}

# --- kilnd ---------------------------------------------------------------------------------
# kilnd_start DIR CONFIG: a kilnd on DIR/root, socket DIR/kilnd.sock; sets $kilnd_pid.
kilnd_start() {
  local dir=$1 config=$2
  mkdir -p "$dir"
  "$kilnd" --addr "unix://$dir/kilnd.sock" --root "$dir/root" --config "$config" \
    2>>"$dir/kilnd.log" &
  kilnd_pid=$!
  kilnd_pids+=("$kilnd_pid")
  for _ in $(seq 1 300); do
    "$kilnctl" du --addr "unix://$dir/kilnd.sock" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "FATAL: kilnd did not start: $(tail -5 "$dir/kilnd.log")" >&2
  exit 1
}
kilnd_stop() {  # kilnd_stop PID
  kill -TERM "$1"
  wait "$1" 2>/dev/null || true
  local keep=()
  for p in "${kilnd_pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  kilnd_pids=("${keep[@]}")
}
kctl() {  # kctl DIR ARGS...
  local dir=$1; shift
  "$kilnctl" --addr "unix://$dir/kilnd.sock" "$@"
}

# --- timing --------------------------------------------------------------------------------
results=$work/results.tsv
: >"$results"
# timed NAME CMD...: runs CMD, records NAME and its wall time in ms (fails the run on error).
timed() {
  local name=$1; shift
  local t0=$EPOCHREALTIME out
  if ! out=$("$@" 2>&1); then
    echo "FATAL: $name failed: $out" >&2
    exit 1
  fi
  local t1=$EPOCHREALTIME
  local ms
  ms=$(python3 -c "print(f'{($t1 - $t0) * 1000:.1f}')")
  printf '%s\t%s\n' "$name" "$ms" >>"$results"
  printf '  %-14s %10s ms\n' "$name" "$ms"
}

# --- seed ----------------------------------------------------------------------------------
reg_start
echo "registry on $host; seeding golang:1.19 with skopeo"
in_ns skopeo copy -q --dest-tls-verify=false "oci:$images/golang-1.19" \
  "docker://$host/library/golang:1.19" >/dev/null
golang=$host/library/golang:1.19
ctx=$work/ctx
mkdir -p "$ctx/run" "$ctx/one-stage"
printf 'FROM %s\nRUN true\n' "$golang" >"$ctx/run/Dockerfile"
cp "$shared/examples/normal-build/Dockerfile" "$shared/examples/normal-build/welcome.go" \
  "$ctx/one-stage/"

# --- pull ----------------------------------------------------------------------------------
echo "pull golang:1.19, $reps reps"
for rep in $(seq 1 "$reps"); do
  echo " rep $rep"
  d=$work/kiln-pull-$rep
  kilnd_start "$d" /dev/null
  timed kiln-pull kctl "$d" image pull -q "$golang"
  kilnd_stop "$kilnd_pid"
  rm -rf "$d"
  kilnd_start "$d" /dev/null
  timed kiln-pull+run sh -c '"$1" --addr "unix://$2/kilnd.sock" image pull -q "$3" &&
    "$1" --addr "unix://$2/kilnd.sock" build --progress quiet "$4"' sh "$kilnctl" "$d" "$golang" \
    "$ctx/run"
  kilnd_stop "$kilnd_pid"
  rm -rf "$d"
  s=$(fresh_store)
  timed podman-pull podman_cmd "$s" pull -q --tls-verify=false "$golang"
  rm -rf "$s"
  s=$(fresh_store)
  timed buildah-pull buildah_cmd "$s" pull -q --tls-verify=false "docker://$golang"
  rm -rf "$s"
  timed skopeo-copy in_ns skopeo copy -q --src-tls-verify=false "docker://$golang" \
    "oci:$work/oci-$rep:golang"
  rm -rf "$work/oci-$rep"
done

# --- no-op rebuild: base from the registry vs imported -------------------------------------
echo "one-stage example: build with the base from the registry (a docker.io mirror)"
printf '[registry."docker.io"]\nmirrors = ["%s"]\n' "$host" >"$work/mirror.toml"
kr=$work/kiln-registry
kilnd_start "$kr" "$work/mirror.toml"
kr_pid=$kilnd_pid
kctl "$kr" build --progress quiet -t one-stage:1 "$ctx/one-stage" >/dev/null
ki=$work/kiln-imported
kilnd_start "$ki" /dev/null
kctl "$ki" image import "$images/golang-1.19" --name golang:1.19 >/dev/null
kctl "$ki" build --progress quiet -t one-stage:1 "$ctx/one-stage" >/dev/null
noop_runs=$((reps * 4))
echo "no-op rebuilds, $noop_runs each, interleaved"
for _ in $(seq 1 "$noop_runs"); do
  timed noop-registry kctl "$kr" build --progress quiet -t one-stage:1 "$ctx/one-stage"
  timed noop-imported kctl "$ki" build --progress quiet -t one-stage:1 "$ctx/one-stage"
done
kilnd_stop "$kilnd_pid"

# --- push ----------------------------------------------------------------------------------
dest=$host/bench/one-stage:1
kctl "$kr" image push -q one-stage:1 "$dest" >/dev/null
bs=$(fresh_store)
buildah_cmd "$bs" pull -q --tls-verify=false "docker://$dest" >/dev/null
size=$(kctl "$kr" image ls | awk '$1 ~ /one-stage/ {print $0}')
echo "push the one-stage image ($size), $reps reps, each to an empty registry"
for rep in $(seq 1 "$reps"); do
  echo " rep $rep"
  reg_wipe
  timed kiln-push kctl "$kr" image push -q one-stage:1 "$dest"
  timed kiln-push2 kctl "$kr" image push -q one-stage:1 "$dest"
  reg_wipe
  timed buildah-push buildah_cmd "$bs" push -q --tls-verify=false "$dest" "docker://$dest"
done
kilnd_stop "$kr_pid"
rm -rf "$bs"

# --- report --------------------------------------------------------------------------------
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
[ -n "${KILN_BENCH_OUT:-}" ] && cp "$results" "$KILN_BENCH_OUT"
python3 - "$results" "$load_start" "$load_end" <<'EOF'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().split("\n") if l]
by = {}
for name, ms in rows:
    by.setdefault(name, []).append(float(ms))
med = {k: statistics.median(v) for k, v in by.items()}
print("\n| measurement | median ms | min | max | runs |\n| --- | --- | --- | --- | --- |")
for k, v in by.items():
    print(f"| {k} | {med[k]:.1f} | {min(v):.1f} | {max(v):.1f} | {len(v)} |")
def ratio(a, b):
    return f"{med[b] / med[a]:.2f}x" if a in med and b in med else "n/a"
fastest = min(("podman-pull", "buildah-pull"), key=lambda k: med[k])
print(f"\npull: fastest of podman and buildah is {fastest}; "
      f"kiln-pull is {ratio('kiln-pull', fastest)} faster (target >= 1.5x), "
      f"kiln-pull+run {ratio('kiln-pull+run', fastest)}; "
      f"skopeo-copy / kiln-pull {ratio('kiln-pull', 'skopeo-copy')}")
print(f"push: kiln-push is {ratio('kiln-push', 'buildah-push')} faster than buildah-push "
      f"(target >= 1.5x); second push {med['kiln-push2']:.1f} ms (target < 50 ms)")
over = (med["noop-registry"] / med["noop-imported"] - 1) * 100
print(f"no-op rebuild: base from the registry {med['noop-registry']:.1f} ms vs imported "
      f"{med['noop-imported']:.1f} ms ({over:+.1f} %, target within 10 %)")
l0, l1 = float(sys.argv[2].split()[0]), float(sys.argv[3].split()[0])
quiet = "quiet" if max(l0, l1) <= 0.5 else "NOT quiet (load > 0.5)"
print(f"load average at start {sys.argv[2]}, at end {sys.argv[3]}: {quiet}")
EOF
