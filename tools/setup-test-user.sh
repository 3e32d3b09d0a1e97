#!/usr/bin/env bash
# Creates the unprivileged accounts the rootless tests run as. Idempotent; run as root.
#   kiln-test   has a 65536-id range in /etc/subuid and /etc/subgid (full mapping)
#   kiln-nosub  has no range (single-id mapping fallback)
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "setup-test-user: must run as root" >&2; exit 1; }

ensure_user() {
  local name=$1
  if ! getent passwd "$name" >/dev/null; then
    useradd --system --create-home --home-dir "/var/lib/$name" --shell /bin/bash "$name"
  fi
}

ensure_range() {
  local name=$1 file=$2 start=$3
  touch "$file"
  grep -q "^$name:" "$file" || echo "$name:$start:65536" >> "$file"
}

ensure_user kiln-test
ensure_user kiln-nosub
ensure_range kiln-test /etc/subuid 3100000
ensure_range kiln-test /etc/subgid 3100000
# kiln-nosub must have no range.
sed -i '/^kiln-nosub:/d' /etc/subuid /etc/subgid
echo "setup-test-user: kiln-test (uid $(id -u kiln-test), subuid range) and kiln-nosub (uid $(id -u kiln-nosub), no range)"
