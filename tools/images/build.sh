#!/usr/bin/env bash
# Builds Kiln's base images from Debian packages (no registry is reachable here) as OCI image
# layouts:
#   busybox:1.35  busybox-static with applet links, /etc/passwd, /etc/group, /tmp, /root
#   golang:1.19   a Go toolchain (golang-1.19-go/-src + libc6 for the dynamically linked `go`)
#                 on top of the busybox layer
#
# Usage: tools/images/build.sh [--out DIR] [--force] [--no-verify] [IMAGE...]
#   IMAGE is busybox or golang (default: both).
#   Output root: --out DIR, else $KILN_IMAGES_DIR, else /var/cache/kiln/images (root) or
#   ${XDG_CACHE_HOME:-$HOME/.cache}/kiln/images. Each image is a layout at ROOT/<name>-<tag>/.
#
# Deterministic: entries sorted, owners 0:0 numeric, fixed mtimes, `gzip -n`. Built once: a
# layout whose stamp file (.kiln-complete, written last) exists is reused as is. Needs bash, GNU
# tar, gzip, sha256sum, apt-get and dpkg-deb; no python or jq.
set -euo pipefail
umask 022
export LC_ALL=C

readonly EPOCH=1680825600                # 2023-04-07T00:00:00Z, fixed mtime of every entry
readonly CREATED="2023-04-07T00:00:00Z"
here=$(cd "$(dirname "$0")" && pwd)
readonly STAMP=".kiln-complete"
# Bump when the image recipe changes, so cached layouts are rebuilt.
readonly RECIPE="2"
readonly BASE_PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

die() { echo "images: $*" >&2; exit 1; }
log() { echo "images: $*" >&2; }

out=""
force=0
verify=1
images=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] || die "--out needs a directory"; out="$2"; shift 2 ;;
    --out=*) out="${1#--out=}"; shift ;;
    --force) force=1; shift ;;
    --no-verify) verify=0; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    busybox|golang) images+=("$1"); shift ;;
    *) die "unknown argument '$1' (expected --out DIR, --force, --no-verify, busybox, golang)" ;;
  esac
done
[ ${#images[@]} -gt 0 ] || images=(busybox golang)

if [ -z "$out" ]; then
  if [ -n "${KILN_IMAGES_DIR:-}" ]; then
    out="$KILN_IMAGES_DIR"
  elif [ "$(id -u)" -eq 0 ]; then
    out=/var/cache/kiln/images
  else
    out="${XDG_CACHE_HOME:-$HOME/.cache}/kiln/images"
  fi
fi
mkdir -p "$out" || die "create output dir '$out' failed"
out=$(cd "$out" && pwd)
# The unprivileged test user must be able to traverse to the layouts.
chmod a+rx "$out" 2>/dev/null || true

for tool in tar gzip sha256sum apt-get dpkg-deb stat find sort; do
  command -v "$tool" >/dev/null || die "'$tool' is required but not installed"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/kiln-images.XXXXXX")
stage=""
cleanup() { rm -rf "$work"; [ -z "$stage" ] || rm -rf "$stage"; }
trap cleanup EXIT

# ---- helpers ----------------------------------------------------------------------------

# download PKG...: fetches .debs into $work/debs (idempotent per package).
download() {
  mkdir -p "$work/debs"
  local pkg
  for pkg in "$@"; do
    if ! compgen -G "$work/debs/${pkg}_*.deb" >/dev/null; then
      if ! (cd "$work/debs" && apt-get download "$pkg" >"$work/apt.log" 2>&1); then
        cat "$work/apt.log" >&2
        die "apt-get download '$pkg' failed (is the Debian archive reachable? try 'apt-get update')"
      fi
    fi
  done
}

# deb_version PKG: the version of the downloaded package.
deb_version() { dpkg-deb -f "$(compgen -G "$work/debs/${1}_*.deb" | head -n1)" Version; }

# extract PKG DIR: unpacks a downloaded .deb into DIR.
extract() { dpkg-deb -x "$(compgen -G "$work/debs/${1}_*.deb" | head -n1)" "$2"; }

# json_str S: S as a JSON string literal (escapes \ and ").
json_str() {
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

# json_arr S...: a JSON array of strings.
json_arr() {
  local first=1 s
  printf '['
  for s in "$@"; do
    [ $first -eq 1 ] || printf ','
    first=0
    json_str "$s"
  done
  printf ']'
}

# put_blob FILE LAYOUT: moves FILE into LAYOUT/blobs/sha256 and prints its digest hex.
put_blob() {
  local hex
  hex=$(sha256sum "$1" | cut -d' ' -f1)
  mkdir -p "$2/blobs/sha256"
  mv -f "$1" "$2/blobs/sha256/$hex"
  chmod 0644 "$2/blobs/sha256/$hex"
  printf '%s' "$hex"
}

# make_layer ROOTFS LAYOUT: deterministic gzip layer of ROOTFS into LAYOUT.
# Sets LAYER_HEX (blob digest), LAYER_SIZE, DIFF_HEX (uncompressed digest).
make_layer() {
  local rootfs=$1 layout=$2 tarfile="$work/layer.tar"
  tar --create --file="$tarfile" --directory="$rootfs" --sort=name --format=posix \
    --pax-option='exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime' \
    --owner=0 --group=0 --numeric-owner --mtime="@$EPOCH" --no-recursion \
    --files-from=<(cd "$rootfs" && find . -mindepth 1 -printf '%P\n' | sort)
  DIFF_HEX=$(sha256sum "$tarfile" | cut -d' ' -f1)
  gzip -n -6 "$tarfile"
  LAYER_SIZE=$(stat -c %s "$tarfile.gz")
  LAYER_HEX=$(put_blob "$tarfile.gz" "$layout")
}

# write_image LAYOUT REF CONFIG_JSON_BODY LAYERS(hex:size ...) : config, manifest, index.
# CONFIG_JSON_BODY is the full config JSON.
write_image() {
  local layout=$1 ref=$2 config=$3
  shift 3
  local cfg_file="$work/config.json" cfg_hex cfg_size man_file="$work/manifest.json"
  printf '%s' "$config" >"$cfg_file"
  cfg_size=$(stat -c %s "$cfg_file")
  cfg_hex=$(put_blob "$cfg_file" "$layout")
  {
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
    printf '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},' \
      "$cfg_hex" "$cfg_size"
    printf '"layers":['
    local first=1 l
    for l in "$@"; do
      [ $first -eq 1 ] || printf ','
      first=0
      printf '{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}' \
        "${l%%:*}" "${l##*:}"
    done
    printf ']}'
  } >"$man_file"
  local man_size man_hex
  man_size=$(stat -c %s "$man_file")
  man_hex=$(put_blob "$man_file" "$layout")
  printf '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":%s,"org.opencontainers.image.ref.name":%s}}]}' \
    "$man_hex" "$man_size" "$(json_str "$ref")" "$(json_str "$ref")" >"$layout/index.json"
  chmod -R a+rX "$layout"
  MANIFEST_HEX=$man_hex
}

# image_config ENV_JSON CMD_JSON WORKDIR DIFF_IDS_JSON HISTORY_JSON
image_config() {
  local wd=""
  [ -z "$3" ] || wd=",\"WorkingDir\":$(json_str "$3")"
  printf '{"architecture":"amd64","os":"linux","created":"%s","config":{"Env":%s,"Cmd":%s%s},"rootfs":{"type":"layers","diff_ids":%s},"history":%s}' \
    "$CREATED" "$1" "$2" "$wd" "$4" "$5"
}

# ---- busybox ----------------------------------------------------------------------------

busybox_rootfs() {
  local r=$1
  download busybox-static
  extract busybox-static "$r"
  rm -rf "$r/usr/share"
  [ -x "$r/bin/busybox" ] || die "busybox-static .deb has no bin/busybox"
  local applet
  for applet in $("$r/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$r/bin/$applet"
  done
  mkdir -p "$r/etc" "$r/root" "$r/tmp" "$r/home" "$r/var" "$r/usr/bin" "$r/usr/sbin" \
    "$r/sbin" "$r/dev" "$r/proc" "$r/sys"
  # Debian's busybox-static has no adduser/addgroup applets; ship compatible scripts.
  for tool in adduser addgroup; do
    if [ ! -e "$r/bin/$tool" ]; then
      install -m 0755 "$here/$tool.sh" "$r/usr/sbin/$tool"
    fi
  done
  chmod 0700 "$r/root"
  chmod 1777 "$r/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
    >"$r/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' >"$r/etc/group"
  printf 'root:*::0:::::\nnobody:*::0:::::\n' >"$r/etc/shadow"
  chmod 0644 "$r/etc/passwd" "$r/etc/group"
  chmod 0640 "$r/etc/shadow"
}

BUSYBOX_LAYER="" BUSYBOX_DIFF="" BUSYBOX_VERSION=""
# busybox_layer LAYOUT: builds the busybox layer into LAYOUT (once per run; reused by golang).
busybox_layer() {
  local layout=$1
  if [ -z "$BUSYBOX_LAYER" ]; then
    rm -rf "$work/bb"
    mkdir -p "$work/bb"
    busybox_rootfs "$work/bb"
    BUSYBOX_VERSION=$(deb_version busybox-static)
    mkdir -p "$work/bblayout"
    make_layer "$work/bb" "$work/bblayout"
    BUSYBOX_LAYER="$LAYER_HEX:$LAYER_SIZE" BUSYBOX_DIFF=$DIFF_HEX
  fi
  mkdir -p "$layout/blobs/sha256"
  cp "$work/bblayout/blobs/sha256/${BUSYBOX_LAYER%%:*}" "$layout/blobs/sha256/"
}

build_busybox() {
  local layout=$1
  busybox_layer "$layout"
  local env cfg hist
  env=$(json_arr "PATH=$BASE_PATH")
  hist="[{\"created\":\"$CREATED\",\"created_by\":$(json_str "kiln tools/images/build.sh: busybox-static $BUSYBOX_VERSION")}]"
  cfg=$(image_config "$env" '["sh"]' "" "[\"sha256:$BUSYBOX_DIFF\"]" "$hist")
  write_image "$layout" "docker.io/library/busybox:1.35" "$cfg" "$BUSYBOX_LAYER"
}

# ---- golang -----------------------------------------------------------------------------

build_golang() {
  local layout=$1 r="$work/go"
  busybox_layer "$layout"
  download golang-1.19-go golang-1.19-src libc6
  rm -rf "$r"
  mkdir -p "$r"
  local p
  for p in golang-1.19-go golang-1.19-src libc6; do extract "$p" "$r"; done
  local gover
  gover=$(deb_version golang-1.19-go)
  gover=${gover%%-*}
  # Drop docs and Go's own test corpus; keep the toolchain, std sources and libc.
  rm -rf "$r/usr/share/doc" "$r/usr/share/lintian" "$r/usr/share/man" "$r/usr/share/go-1.19/test" \
    "$r/usr/lib/go-1.19/test"
  [ -x "$r/usr/lib/go-1.19/bin/go" ] || die "golang-1.19-go .deb has no usr/lib/go-1.19/bin/go"
  [ -e "$r/lib64/ld-linux-x86-64.so.2" ] || die "libc6 .deb has no lib64/ld-linux-x86-64.so.2"
  mkdir -p "$r/usr/local" "$r/go/bin" "$r/go/src"
  chmod -R 1777 "$r/go"
  ln -s ../lib/go-1.19 "$r/usr/local/go"
  make_layer "$r" "$layout"
  local env cfg hist
  env=$(json_arr "PATH=/go/bin:/usr/local/go/bin:$BASE_PATH" "GOLANG_VERSION=$gover" "GOPATH=/go")
  hist="[{\"created\":\"$CREATED\",\"created_by\":$(json_str "kiln tools/images/build.sh: busybox-static $BUSYBOX_VERSION")},"
  hist+="{\"created\":\"$CREATED\",\"created_by\":$(json_str "kiln tools/images/build.sh: golang-1.19-go golang-1.19-src $(deb_version golang-1.19-go) libc6 $(deb_version libc6)")}]"
  cfg=$(image_config "$env" '["sh"]' "/go" "[\"sha256:$BUSYBOX_DIFF\",\"sha256:$DIFF_HEX\"]" "$hist")
  write_image "$layout" "docker.io/library/golang:1.19" "$cfg" "$BUSYBOX_LAYER" "$LAYER_HEX:$LAYER_SIZE"
  [ $verify -eq 0 ] || verify_golang "$layout"
}

# verify_golang LAYOUT: unpacks the layers and compiles + runs a static Go program inside them
# (chroot in a private mount namespace; as non-root inside `unshare -r`).
verify_golang() {
  local layout=$1 root="$work/verify"
  local src=${KILN_SHARED_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)/shared}/examples/multi-stage/welcome.go
  rm -rf "$root"
  mkdir -p "$root"
  local l
  for l in $(grep -o '"layers":\[.*\]' "$layout/blobs/sha256/$MANIFEST_HEX" |
             grep -o 'sha256:[0-9a-f]\{64\}' | cut -d: -f2); do
    tar -xzf "$layout/blobs/sha256/$l" -C "$root" --no-same-owner
  done
  mkdir -p "$root/src"
  if [ -f "$src" ]; then
    cp "$src" "$root/src/welcome.go"
  else
    printf 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("Welcome to multi-stage builds with Kiln") }\n' \
      >"$root/src/welcome.go"
  fi
  local ns=(unshare -m --propagation private)
  [ "$(id -u)" -eq 0 ] || ns=(unshare -r -m --propagation private)
  local got
  got=$("${ns[@]}" /bin/sh -c '
      set -e
      touch "$1/dev/null"
      mount --bind /dev/null "$1/dev/null"
      exec chroot "$1" /bin/sh -c "export PATH=/go/bin:/usr/local/go/bin:$2 GOPATH=/go HOME=/root;
        cd /tmp && CGO_ENABLED=0 go build -o w /src/welcome.go && ./w"' sh "$root" "$BASE_PATH" 2>&1) ||
    die "verify golang: go build in the image failed: $got"
  case "$got" in
    *Welcome*) log "verified golang:1.19: compiled and ran welcome.go -> $got" ;;
    *) die "verify golang: unexpected output from the compiled program: $got" ;;
  esac
  rm -rf "$root"
}

# ---- main -------------------------------------------------------------------------------

for img in "${images[@]}"; do
  case "$img" in
    busybox) name=busybox-1.35 ;;
    golang) name=golang-1.19 ;;
  esac
  dest="$out/$name"
  if [ $force -eq 0 ] && [ -f "$dest/$STAMP" ] && grep -qx "recipe $RECIPE" "$dest/$STAMP"; then
    echo "$dest"
    log "$name: up to date at $dest"
    continue
  fi
  log "$name: building into $dest"
  stage="$out/.tmp-$name.$$"
  rm -rf "$stage"
  mkdir -p "$stage"
  "build_$img" "$stage"
  { date -u +%Y-%m-%dT%H:%M:%SZ; echo "recipe $RECIPE"; } >"$stage/$STAMP"
  chmod -R a+rX "$stage"
  rm -rf "$dest"
  mv "$stage" "$dest"
  stage=""
  echo "$dest"
  log "$name: done (manifest sha256:$MANIFEST_HEX)"
done
