#!/usr/bin/env bash
# Compares `kilnctl build` (multi-stage no-op) with wire_floor, a replay of the same call's
# bytes (see wire_floor.c), alternately with ab.c, against a warm kilnd the caller started.
#   bench/daemon/wire_floor.sh KILNCTL SOCKET CONTEXT_DIR [ROUNDS]
# Needs cc and strace (to capture the call kilnctl makes).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
kilnctl=$1 sock=$2 ctx=$3 rounds=${4:-100}
work=$(mktemp -d /tmp/kiln-wire-floor-XXXXXX)
trap 'rm -rf "$work"' EXIT
cc -O2 -static -o "$work/wire_floor" "$here/wire_floor.c"
cc -O2 -o "$work/ab" "$here/ab.c"
args=(build --addr "unix://$sock" --progress quiet -t x "$ctx")
"$kilnctl" "${args[@]}"  # warm
strace -f -xx -s 65536 -e trace=sendmsg,write -o "$work/trace" "$kilnctl" "${args[@]}"
# The client's writes up to the one that ends stream 1 (DATA with END_STREAM: the request).
python3 - "$work/trace" "$work/request" <<'PY'
import re, sys
def ends_request(data):
    pos = 24  # the connection preface
    while pos + 9 <= len(data):
        length = int.from_bytes(data[pos:pos + 3], "big")
        ftype, flags = data[pos + 3], data[pos + 4]
        stream = int.from_bytes(data[pos + 5:pos + 9], "big") & 0x7FFFFFFF
        if ftype == 0 and stream == 1 and flags & 1:
            return True
        pos += 9 + length
    return False
out = b""
for line in open(sys.argv[1]):
    call = re.match(r"(?:\d+ +)?(sendmsg|write)\((\d+), ", line)
    if not call or call.group(2) in ("1", "2"):
        continue
    chunks = re.findall(r'"((?:\\x[0-9a-f]{2})*)"', line)
    out += b"".join(bytes.fromhex(c.replace("\\x", "")) for c in chunks)
    if ends_request(out):
        break
else:
    sys.exit("wire_floor.sh: no complete request in the trace")
open(sys.argv[2], "wb").write(out)
PY
"$work/wire_floor" "$sock" "$work/request"
"$work/ab" "$rounds" -- "$kilnctl" "${args[@]}" -- "$work/wire_floor" "$sock" "$work/request"
