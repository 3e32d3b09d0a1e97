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
# A rootless kilnd's network helper (slirp4netns) opens /dev/net/tun as the user. Debian's udev
# rule makes it 0666; machines without udev (containers, this CI) leave it 0600 root, so do
# what udev would. Only this device node, and only when it is a character device.
if [ -c /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
  chmod 0666 /dev/net/tun
  echo "setup-test-user: /dev/net/tun made 0666, as udev does"
fi
echo "setup-test-user: kiln-test (uid $(id -u kiln-test), subuid range) and kiln-nosub (uid $(id -u kiln-nosub), no range)"
