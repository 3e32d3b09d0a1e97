#!/usr/bin/env bash
# Runs a test binary as an unprivileged user (default kiln-test), for the rootless paths.
# Usage: run_as_user.sh [--user NAME] BINARY [ARGS...]
# Run as root, it copies BINARY to a world-readable temp dir (the checkout may sit under a
# 0700 home), and runs it with a private HOME and XDG_RUNTIME_DIR. Run as a normal user, it
# just runs BINARY. A missing test user is a loud failure, never a skip.
set -euo pipefail
user=kiln-test
if [ "${1:-}" = "--user" ]; then user=$2; shift 2; fi
bin=$1; shift

if [ "$(id -u)" -ne 0 ]; then exec "$bin" "$@"; fi

if ! getent passwd "$user" >/dev/null; then
  echo "FATAL: test user '$user' does not exist; run tools/setup-test-user.sh as root" >&2
  exit 1
fi
uid=$(id -u "$user"); gid=$(id -g "$user")
work=$(mktemp -d /tmp/kiln-rootless-XXXXXX)
cleanup() { rm -rf "$work" 2>/dev/null || true; }
trap cleanup EXIT
chmod 0755 "$work"
cp "$bin" "$work/"
mkdir -p "$work/home" "$work/run"
chown "$uid:$gid" "$work/home" "$work/run"
chmod 0700 "$work/run"
# The shared data (examples, conformance) may sit under a directory the user cannot enter.
shared="${KILN_SHARED_DIR:-}"
if [ -n "$shared" ] && ! setpriv --reuid="$uid" --regid="$gid" --init-groups test -r "$shared/examples/README.md" 2>/dev/null; then
  cp -a "$shared" "$work/shared"
  chmod -R a+rX "$work/shared"
  shared="$work/shared"
fi
cd "$work/home"
setpriv --reuid="$uid" --regid="$gid" --init-groups --inh-caps=-all \
  env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME="$work/home" USER="$user" LOGNAME="$user" XDG_RUNTIME_DIR="$work/run" \
  XDG_DATA_HOME="$work/home/.local/share" TMPDIR="$work/home" \
  KILN_SHARED_DIR="$shared" KILN_IMAGES_DIR="${KILN_IMAGES_DIR:-}" \
  KILN_BUSYBOX="${KILN_BUSYBOX:-}" ASAN_OPTIONS="${ASAN_OPTIONS:-}" \
  UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
  "$work/$(basename "$bin")" "$@"
