#!/usr/bin/env bash
# End-to-end check of `kilnctl debug graph` on the shared examples.
# usage: debug_graph_test.sh KILNCTL   (env KILN_SHARED_DIR)
set -euo pipefail
kilnctl=$1
ex=${KILN_SHARED_DIR:?KILN_SHARED_DIR must point at the shared data}/examples
[ -d "$ex" ] || { echo "FAIL: no examples at $ex" >&2; exit 1; }
fail() { echo "FAIL: $*" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

out=$("$kilnctl" debug graph -f "$ex/parallel-stages/Dockerfile" "$ex/parallel-stages")
[ "$(echo "$out" | wc -l)" -eq 8 ] || fail "parallel-stages: expected 8 ops, got: $out"
[ "$(echo "$out" | grep -c ' exec ')" -eq 3 ] || fail "parallel-stages: expected 3 RUNs"
echo "$out" | grep -q 'unused' && fail "parallel-stages: the unused stage is in the graph"
echo "$out" | grep -qE '^[0-9a-f]{12} exec \[[0-9a-f]{12}\] \[a 2/2\] RUN sleep 2 && echo a > /out$' ||
  fail "parallel-stages: RUN line not as written: $out"

out=$("$kilnctl" debug graph -f "$ex/multi-stage-busybox/Dockerfile" --target builder)
echo "$out" | tail -1 | grep -q 'RUN CGO_ENABLED=0 go build' || fail "--target builder: $out"
echo "$out" | grep -q 'busybox' && fail "--target builder reached the runtime stage"

dot=$("$kilnctl" debug graph -f "$ex/http-server/Dockerfile" --format dot)
[ "$(echo "$dot" | head -1)" = "digraph kiln {" ] || fail "dot header: $dot"
[ "$(echo "$dot" | tail -1)" = "}" ] || fail "dot footer"
if command -v dot >/dev/null; then echo "$dot" | dot -Tsvg >/dev/null || fail "dot rejected the output"; fi

printf 'FROM busybox:1.35\nRUN true\nFROB x\n' > "$tmp/Dockerfile"
if "$kilnctl" debug graph -f "$tmp/Dockerfile" 2> "$tmp/err"; then fail "bad Dockerfile exited 0"; fi
grep -q "$tmp/Dockerfile:3: unknown instruction: FROB" "$tmp/err" || fail "error text: $(cat "$tmp/err")"

printf 'ARG V=1\nFROM busybox:1.35\nARG V\nRUN echo $V\n' > "$tmp/Dockerfile"
a=$("$kilnctl" debug graph -f "$tmp/Dockerfile" | tail -1 | cut -c1-12)
b=$("$kilnctl" debug graph -f "$tmp/Dockerfile" --build-arg V=2 | tail -1 | cut -c1-12)
[ "$a" != "$b" ] || fail "--build-arg did not change the RUN digest"
echo "debug graph: all checks passed"
