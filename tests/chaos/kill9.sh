#!/bin/bash
# tests/chaos/kill9.sh N: SIGKILLs kilnd at N random moments of a mixed workload and checks,
# after each kill, that a fresh kilnd on the same state root
#   - starts, and `kilnctl debug verify` reports zero problems,
#   - leaves no mount of the killed daemon (/proc/self/mountinfo under the state root) and no
#     process of it (every descendant recorded just before the kill is gone),
#   - builds the reference context again, hitting the cache for every step (unless the
#     workload ran `prune --all` in that round), and a second time entirely from the cache.
# Workload (random, in a loop): builds with RUN and COPY (a generated context with a fresh
# build arg, and shared/examples/parallel-stages) exporting to image, oci, docker and local,
# image import and rm, prune (--keep-storage and --all).
# Everything lives in one mktemp dir, removed at the end (also on failure).
# Env: KILN_BUILD_DIR (default: build/asan next to this script's repo), KILN_SHARED_DIR,
# KILN_IMAGES_DIR, CHAOS_SEED (for a repeatable run). Prints one line per round and a summary.
set -u
N=${1:-10}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD=${KILN_BUILD_DIR:-$REPO/build/asan}
SHARED=${KILN_SHARED_DIR:-$REPO/../shared}
IMAGES=${KILN_IMAGES_DIR:-/var/cache/kiln/images}
KILND=$BUILD/tools/kilnd/kilnd
KILNCTL=$BUILD/tools/kilnctl/kilnctl
RANDOM=${CHAOS_SEED:-$$}
for f in "$KILND" "$KILNCTL" "$IMAGES/busybox-1.35/index.json" "$SHARED/examples/parallel-stages/Dockerfile"; do
  [[ -e $f ]] || { echo "kill9: missing $f" >&2; exit 2; }
done

T=$(mktemp -d /tmp/kiln-chaos-XXXXXX) || exit 2
[[ -n $T && -d $T && $T == /tmp/kiln-chaos-* ]] || exit 2
STATE=$T/state
SOCK=$T/run/kilnd.sock
ADDR=unix://$SOCK
KPID=0
WPID=0

cleanup() {
  [[ $WPID -gt 0 ]] && kill -9 "$WPID" 2>/dev/null && wait "$WPID" 2>/dev/null
  if [[ $KPID -gt 0 ]] && kill -0 "$KPID" 2>/dev/null; then
    kill -TERM "$KPID"
    for _ in $(seq 100); do kill -0 "$KPID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$KPID" 2>/dev/null
  fi
  # kilnd mounts in its own mount namespace; anything in ours under T would be a leak.
  grep -F " $T/" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do
    [[ $m == "$T"/* ]] && umount -l "$m"
  done
  [[ $T == /tmp/kiln-chaos-* ]] && rm -rf --one-file-system "$T"
}
trap cleanup EXIT

k() { "$KILNCTL" --addr "$ADDR" "$@"; }

start_kilnd() {
  mkdir -p "$T/run"
  setsid "$KILND" --addr "$ADDR" --root "$STATE" --config /dev/null >>"$T/kilnd.log" 2>&1 &
  KPID=$!
  local deadline=$((SECONDS + 60))
  while ((SECONDS < deadline)); do
    [[ -S $SOCK ]] && k image ls >/dev/null 2>&1 && return 0
    kill -0 "$KPID" 2>/dev/null || break
    sleep 0.05
  done
  echo "kill9: kilnd did not come up; log:" >&2
  tail -20 "$T/kilnd.log" >&2
  return 1
}

# "pid:starttime" of every descendant of $1 (and $1).
descendants() {
  local -A kids=()
  local p pp
  for s in /proc/[0-9]*/stat; do
    { read -r line <"$s"; } 2>/dev/null || continue
    p=${line%% *}
    pp=$(echo "${line##*) }" | awk '{print $2}')
    kids[$pp]+="$p "
  done
  local queue=("$1") out=()
  while ((${#queue[@]})); do
    p=${queue[0]}
    queue=("${queue[@]:1}")
    out+=("$p:$(awk '{print $22}' "/proc/$p/stat" 2>/dev/null)")
    for c in ${kids[$p]:-}; do queue+=("$c"); done
  done
  echo "${out[@]}"
}

alive() {  # pid:starttime still the same process?
  local p=${1%%:*} st=${1##*:}
  [[ -r /proc/$p/stat ]] && [[ $(awk '{print $22}' "/proc/$p/stat" 2>/dev/null) == "$st" ]] &&
    [[ $(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) != Z ]]
}

# The reference context: FROM, RUN, COPY.
mkdir -p "$T/ref" "$T/gen/sub"
printf 'FROM busybox:1.35\nRUN echo ref > /ref && sleep 1\nCOPY . /ctx\nRUN ls -R /ctx > /list\n' >"$T/ref/Dockerfile"
echo reference >"$T/ref/file"
printf 'FROM busybox:1.35\nARG SEED\nRUN echo $SEED > /seed && head -c 200000 /dev/urandom > /blob\nCOPY . /ctx\nRUN cat /seed /ctx/sub/f > /out\n' >"$T/gen/Dockerfile"
for i in $(seq 50); do echo "file $i" >"$T/gen/sub/f$i"; done
cat "$T"/gen/sub/f* >"$T/gen/sub/f"

ref_build() {  # prints the number of CACHED steps and of steps; non-zero on failure
  local out
  out=$(k build --progress plain "$T/ref" 2>&1) || { echo "$out" | tail -20 >&2; return 1; }
  echo "$(grep -E '^#[0-9]+ CACHED$' <<<"$out" | sort -u | wc -l)" \
    "$(grep -oE '^#[0-9]+ \[' <<<"$out" | sort -u | wc -l)"
}

workload() {  # runs until killed; appends what it starts to $1
  local log=$1 n=0
  while :; do
    n=$((n + 1))
    case $((RANDOM % 9)) in
      0) echo build-image >>"$log"; k build --opt build-arg:SEED=$RANDOM -t "chaos:$n" "$T/gen" ;;
      1) echo build-oci >>"$log"
         k build --local context="$T/gen" --local dockerfile="$T/gen" --opt build-arg:SEED=$RANDOM \
           --output "type=oci,dest=$T/out-oci.tar" ;;
      2) echo build-docker >>"$log"
         k build --local context="$T/gen" --local dockerfile="$T/gen" --opt build-arg:SEED=$RANDOM \
           --output "type=docker,dest=$T/out-docker.tar,name=chaos:docker" ;;
      3) echo build-local >>"$log"
         k build --local context="$T/gen" --local dockerfile="$T/gen" \
           --output "type=local,dest=$T/out-local" ;;
      4) echo build-parallel >>"$log"; k build -t chaos:par "$SHARED/examples/parallel-stages" ;;
      5) echo import >>"$log"; k image import "$IMAGES/busybox-1.35" --name "chaos:imp$n" ;;
      6) echo rm >>"$log"; k image rm "chaos:$((RANDOM % n + 1))" ;;
      7) echo prune >>"$log"; k prune --keep-storage 30MB ;;
      8) if ((RANDOM % 3 == 0)); then echo prune-all >>"$log"; k prune --all; else
           echo ref >>"$log"; k build "$T/ref"; fi ;;
    esac >/dev/null 2>&1
  done
}

fail() { echo "kill9: round $round: $*" >&2; FAILED=$((FAILED + 1)); }

start_kilnd || exit 1
k image import "$IMAGES/busybox-1.35" --name busybox:1.35 >/dev/null || exit 1
ref_build >/dev/null || { echo "kill9: the first reference build failed" >&2; exit 1; }
FAILED=0
T0=$(date +%s)
total_restart_ms=0
for round in $(seq "$N"); do
  oplog=$T/ops.$round
  : >"$oplog"
  workload "$oplog" &
  WPID=$!
  sleep "$((RANDOM % 4)).$((RANDOM % 10))"
  procs=$(descendants "$KPID")
  kill -9 "$KPID"
  wait "$KPID" 2>/dev/null
  kill -9 "$WPID" 2>/dev/null; wait "$WPID" 2>/dev/null; WPID=0
  # The workload's kilnctl may still be exiting; kilnd's own processes must die with it.
  sleep 0.5
  before=$(date +%s%N)
  start_kilnd || { fail "kilnd did not restart"; break; }
  restart_ms=$((($(date +%s%N) - before) / 1000000))
  total_restart_ms=$((total_restart_ms + restart_ms))
  left=""
  for p in $procs; do alive "$p" && left+="${p%%:*} "; done
  [[ -z $left ]] || fail "processes of the killed kilnd remain: $left"
  mounts=$(grep -cF " $STATE/" /proc/self/mountinfo)
  [[ $mounts == 0 ]] || fail "$mounts mounts under the state root remain"
  v=$(k debug verify 2>&1) || fail "debug verify: $v"
  ops=$(tr '\n' ' ' <"$oplog")
  if r1=$(ref_build); then
    read -r cached steps <<<"$r1"
    if ! grep -qx prune-all "$oplog" && [[ $cached != "$steps" ]]; then
      fail "reference build after the kill: $cached of $steps steps cached"
    fi
  else
    fail "reference build after the kill failed"
  fi
  if r2=$(ref_build); then
    read -r cached steps <<<"$r2"
    [[ $cached == "$steps" ]] || fail "second reference build: $cached of $steps steps cached"
  else
    fail "second reference build failed"
  fi
  echo "round $round: killed after [$ops] restart ${restart_ms}ms, reference ${r1:-?} cached/steps"
done
echo "kill9: $N kills in $(($(date +%s) - T0))s, mean restart $((total_restart_ms / N))ms, $FAILED failure(s)"
[[ $FAILED == 0 ]]
