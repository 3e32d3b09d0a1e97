#!/usr/bin/env bash
# Side-by-side: an OCI runtime (`crun run` or `runc run`) starting /bin/true on the same
# busybox rootfs bench_sandbox uses, with the same namespaces (user with 0..65535 mapped
# identically, mount, pid, ipc, uts, net), default capabilities and seccomp.
# Usage (as root): bench/sandbox/crun_compare.sh [crun|runc] [RUNS]
# Prints the median, min and max wall time of RUNS runs (default 100), measured around each
# `<runtime> run` with date +%s%N (so the runtime's own fork/exec is included).
set -euo pipefail
runtime=${1:-crun}
runs=${2:-100}
command -v "$runtime" >/dev/null || { echo "FATAL: $runtime is not installed" >&2; exit 1; }
work=$(mktemp -d /tmp/kiln-sb-oci-XXXXXX)
trap '"$runtime" delete -f kiln-bench >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc"
cp /bin/busybox "$work/rootfs/bin/busybox"
ln -s busybox "$work/rootfs/bin/true"
echo 'root:x:0:0:root:/root:/bin/sh' > "$work/rootfs/etc/passwd"
cd "$work"
"$runtime" spec
# Run true, no terminal, in a user namespace like Kiln's, and without the /sys/fs/cgroup
# mount (this machine's hybrid cgroup layout).
python3 - <<'PY'
import json
c = json.load(open("config.json"))
c["process"]["args"] = ["/bin/true"]
c["process"]["terminal"] = False
c["mounts"] = [m for m in c["mounts"] if m.get("type") != "cgroup"]
ns = c["linux"]["namespaces"]
if not any(n["type"] == "user" for n in ns):
    ns.append({"type": "user"})
c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
json.dump(c, open("config.json", "w"), indent=1)
PY
times=()
for _ in $(seq "$runs"); do
  t0=$(date +%s%N)
  "$runtime" run --bundle "$work" kiln-bench
  t1=$(date +%s%N)
  times+=($(( (t1 - t0) / 1000 )))
done
printf '%s\n' "${times[@]}" | sort -n | awk -v rt="$runtime" '{a[NR]=$1} END {printf "%s run /bin/true: median %.2f ms, min %.2f ms, max %.2f ms over %d runs\n", rt, a[int((NR+1)/2)]/1000, a[1]/1000, a[NR]/1000, NR}'
