#!/usr/bin/env bash
# Installs every Debian package Kiln needs to build, test and benchmark. Idempotent: it only
# calls apt-get when a package is missing. Run as root on Debian 12.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev git ccache
  # libraries
  libseccomp-dev libcap-dev libzstd-dev libxxhash-dev libabsl-dev libssl-dev nlohmann-json3-dev
  libarchive-dev liblmdb-dev libcurl4-openssl-dev zlib1g-dev libdeflate-dev libcli11-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # runtime helpers: newuidmap/newgidmap for rootless, busybox for test rootfs,
  # skopeo/umoci to check our OCI output, tmux for the tty progress test
  uidmap busybox-static skopeo umoci tmux zstd util-linux passwd procps iproute2 curl ca-certificates
  hyperfine  # bench/daemon/run.sh times whole kilnctl processes
  # Kiln vs Buildah (bench/scenarios/run.sh): Buildah and the runc runtime it uses here (crun
  # refuses this machine's hybrid cgroup layout), gnuplot for the chart, python3 for the runner
  buildah runc gnuplot-nox python3
  # RUN's default network (issue 16): slirp4netns per RUN; passt (pasta) as the second choice
  slirp4netns passt
  # registry tests (tests/registry): Debian's docker-registry started by the tests on loopback
  # with their own config, htpasswd for Basic auth, openssl for the test CA
  docker-registry apache2-utils openssl
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing packages: ${missing[*]}" >&2
  echo "setup: run this script as root (sudo $0) to install them" >&2
  exit 1
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
