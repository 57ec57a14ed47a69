#!/usr/bin/env bash
# Build charon's eap-aka-hpm plugin (testbed/segw/hpm_plugin: an EAP-AKA "aka-card" answered
# by the femto's HPM, TS 33.320 7.2.3) against the strongSwan source of the installed version.
#
# Debian ships strongSwan's eap-aka plugin but no card backend and no headers, so this script
#   1. reads the installed version (dpkg-query strongswan-libcharon, e.g. 5.9.8-5+deb12u6 -> 5.9.8),
#   2. fetches strongswan_<upstream>.orig.tar.bz2 from the Debian archive (mirror taken from the
#      apt sources, deb.debian.org as fallback) into .cache/strongswan/ and verifies its SHA-256
#      (pinned below for known versions, else from the package's .dsc; size + archive sanity
#      check as the last resort),
#   3. unpacks only what configure and the headers need and runs a minimal ./configure
#      (--no-create: only config.status, then only config.h),
#   4. compiles the plugin alone with gcc against the source headers, linked to the installed
#      /usr/lib/ipsec/libstrongswan.so.0, libcharon.so.0 and libsimaka.so.0.
# Output: build/strongswan-plugins/libstrongswan-eap-aka-hpm.so (nothing under /usr is touched).
# charon 5.9.8 has no setting for extra plugin directories (the plugin loader's add_path() is used
# only by strongSwan's unit tests), but its loader first looks the constructor
# eap_aka_hpm_plugin_create up in the global symbol scope (dlsym(RTLD_DEFAULT)), so
# testbed.segw.charon starts charon with LD_PRELOAD=<this .so> and "eap-aka-hpm" in charon.load.
#
# Idempotent: nothing is downloaded, configured or compiled again when the result is current.
# Usage: scripts/build_hpm_plugin.sh [--force]
set -euo pipefail
SELF="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$SELF")/.."
t_start=$(date +%s.%N)

FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1

PLUGIN=eap-aka-hpm
SRC_DIR=testbed/segw/hpm_plugin
SOURCES=(eap_aka_hpm_plugin.c eap_aka_hpm_card.c hpm_client.c)
HEADERS=(eap_aka_hpm_plugin.h eap_aka_hpm_card.h hpm_client.h)
OUT_DIR=build/strongswan-plugins
OUT="$OUT_DIR/libstrongswan-$PLUGIN.so"
CACHE=.cache/strongswan
IPSEC_LIBDIR=/usr/lib/ipsec
# SHA-256 of upstream tarballs as in Debian's .dsc (5.9.8: strongswan_5.9.8-5+deb12u5.dsc)
declare -A KNOWN_SHA256=(
  [5.9.8]=d3303a43c0bd7b75a12b64855e8edcb53696f06190364f26d1533bde1f2e453c
)

log() { echo "build_hpm_plugin: $*"; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
die() { echo "build_hpm_plugin: error: $*" >&2; exit 1; }

for tool in gcc tar bzip2 sha256sum nm; do
  command -v "$tool" >/dev/null || die "$tool missing (scripts/setup.sh installs gcc, make, bzip2, pkg-config, libc6-dev)"
done
for lib in libstrongswan.so.0 libcharon.so.0 libsimaka.so.0; do
  [ -e "$IPSEC_LIBDIR/$lib" ] || die "$IPSEC_LIBDIR/$lib missing (install strongswan-libcharon, libcharon-extra-plugins)"
done

version=$(dpkg-query -W -f='${Version}' strongswan-libcharon 2>/dev/null) \
  || die "strongswan-libcharon is not installed"
upstream=${version#*:}      # drop an epoch
upstream=${upstream%-*}     # drop the Debian revision
[[ "$upstream" =~ ^[0-9][0-9A-Za-z.+~]*$ ]] || die "cannot parse strongSwan version '$version'"

# -- up to date? (key: installed version, plugin sources, this script)
key=$( { echo "$version"; cat "${SOURCES[@]/#/$SRC_DIR/}" "${HEADERS[@]/#/$SRC_DIR/}" "$SELF"; } | sha256sum | cut -d' ' -f1)
if [ "$FORCE" = 0 ] && [ -f "$OUT" ] && [ "$(cat "$OUT.key" 2>/dev/null)" = "$key" ]; then
  log "up to date: $OUT (strongSwan $version)"
  exit 0
fi

fetch() {  # fetch URL FILE: 0 on HTTP success
  if command -v curl >/dev/null; then
    curl -fsSL --connect-timeout 10 --max-time 120 -o "$2" "$1"
  elif command -v wget >/dev/null; then
    wget -q -T 30 -O "$2" "$1"
  else
    python3 -c 'import sys, urllib.request, shutil
with urllib.request.urlopen(sys.argv[1], timeout=60) as r, open(sys.argv[2], "wb") as f: shutil.copyfileobj(r, f)' "$1" "$2"
  fi
}

mirrors() {  # the Debian archive URIs of the apt sources (not security/updates), then deb.debian.org
  local f uri
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    case "$f" in
      *.sources) sed -n 's/^URIs:[[:space:]]*//p' "$f" | tr ' ' '\n' ;;
      *) sed -n 's/^[[:space:]]*deb\(-src\)\?[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\).*/\3/p' "$f" ;;
    esac
  done | while read -r uri; do
    case "$uri" in
      http://*|https://*) case "$uri" in *security*|*ports*) ;; *) echo "${uri%/}" ;; esac ;;
    esac
  done
  echo "http://deb.debian.org/debian"
}

# -- 1. upstream tarball, cached and verified
mkdir -p "$CACHE"
tarball="strongswan_${upstream}.orig.tar.bz2"
pool="pool/main/s/strongswan"
if [ ! -f "$CACHE/$tarball" ]; then
  mapfile -t mirror_list < <(mirrors | awk '!seen[$0]++')
  got=""
  for m in "${mirror_list[@]}"; do
    log "fetching $m/$pool/$tarball"
    if fetch "$m/$pool/$tarball" "$CACHE/$tarball.part"; then got=$m; break; fi
  done
  [ -n "$got" ] || die "could not fetch $tarball from ${mirror_list[*]}"
  expected=${KNOWN_SHA256[$upstream]:-}
  source_of_sum="pinned in scripts/build_hpm_plugin.sh"
  if [ -z "$expected" ]; then
    # not pinned: take the checksum from the source package's .dsc (main archive, then security)
    for dsc_url in "$got/$pool/strongswan_${version#*:}.dsc" \
                   "http://deb.debian.org/debian-security/pool/updates/main/s/strongswan/strongswan_${version#*:}.dsc"; do
      if fetch "$dsc_url" "$CACHE/dsc.part" 2>/dev/null; then
        line=$(awk '/^Checksums-Sha256:/{s=1;next} /^[^ ]/{s=0} s' "$CACHE/dsc.part" | grep " $tarball\$" || true)
        rm -f "$CACHE/dsc.part"
        if [ -n "$line" ]; then
          expected=$(echo "$line" | awk '{print $1}')
          expected_size=$(echo "$line" | awk '{print $2}')
          source_of_sum=$dsc_url
          break
        fi
      fi
    done
  fi
  actual=$(sha256sum "$CACHE/$tarball.part" | cut -d' ' -f1)
  if [ -n "$expected" ]; then
    [ "$actual" = "$expected" ] || { rm -f "$CACHE/$tarball.part"; die "$tarball: SHA-256 $actual, expected $expected ($source_of_sum)"; }
    if [ -n "${expected_size:-}" ] && [ "$(stat -c %s "$CACHE/$tarball.part")" != "$expected_size" ]; then
      rm -f "$CACHE/$tarball.part"; die "$tarball: size differs from $source_of_sum"
    fi
    log "verified $tarball: SHA-256 $actual ($source_of_sum)"
  else
    log "warning: no known SHA-256 for $tarball (no pin, no .dsc found); archive sanity check only"
  fi
  bzip2 -t "$CACHE/$tarball.part" || { rm -f "$CACHE/$tarball.part"; die "$tarball is not a valid bzip2 file"; }
  mv "$CACHE/$tarball.part" "$CACHE/$tarball"
fi

# -- 2. source tree and config.h (configure --no-create writes config.status only; then only config.h)
tree="$CACHE/strongswan-$upstream"
CONFIGURE_ARGS=(--disable-defaults --enable-charon --enable-ikev2 --enable-eap-aka --enable-mediation
  --disable-scripts --disable-swanctl --disable-stroke --disable-dependency-tracking
  --prefix=/usr --sysconfdir=/etc --libexecdir=/usr/lib)
conf_stamp="$tree/.nrfemto-configured"
if [ ! -f "$conf_stamp" ] || [ "$(cat "$conf_stamp")" != "${CONFIGURE_ARGS[*]}" ] || [ ! -f "$tree/config.h" ]; then
  rm -rf "$tree" "$tree.tmp"
  mkdir -p "$tree.tmp"
  log "unpacking $tarball (configure and the libstrongswan/libcharon/libsimaka sources only)"
  top="strongswan-$upstream"
  tar -xjf "$CACHE/$tarball" -C "$tree.tmp" --wildcards \
    "$top/configure" "$top/config.h.in" "$top/config.guess" "$top/config.sub" "$top/install-sh" \
    "$top/ltmain.sh" "$top/missing" "$top/compile" "$top/scripts/git-version" \
    "$top/src/libstrongswan/*" "$top/src/libcharon/*" "$top/src/libsimaka/*"
  [ -f "$tree.tmp/strongswan-$upstream/src/libsimaka/simaka_card.h" ] || die "$tarball: unexpected layout (no src/libsimaka/simaka_card.h)"
  mv "$tree.tmp/strongswan-$upstream" "$tree"
  rmdir "$tree.tmp"
  log "configuring (config.h only)"
  t_conf=$(date +%s.%N)
  (cd "$tree" && ./configure -q --no-create "${CONFIGURE_ARGS[@]}" >configure.out 2>&1 \
     && ./config.status -q config.h >>configure.out 2>&1) \
    || { tail -20 "$tree/configure.out" >&2; die "configure failed (log: $tree/configure.out)"; }
  log "configure took $(since "$t_conf") s"
  echo "${CONFIGURE_ARGS[*]}" > "$conf_stamp"
fi
# the printf-hook flavour changes what the headers call: it must match the installed library
if grep -q '^#define USE_BUILTIN_PRINTF' "$tree/config.h"; then builtin=1; else builtin=0; fi
if nm -D "$IPSEC_LIBDIR/libstrongswan.so.0" | grep -q ' T builtin_vsnprintf$'; then lib_builtin=1; else lib_builtin=0; fi
[ "$builtin" = "$lib_builtin" ] || die "config.h printf hooks (builtin=$builtin) differ from the installed libstrongswan (builtin=$lib_builtin)"

# -- 3. compile the plugin alone
mkdir -p "$OUT_DIR"
log "compiling $OUT"
gcc -shared -fPIC -O2 -g -std=gnu11 -fvisibility=hidden -fstack-protector-strong -D_FORTIFY_SOURCE=2 \
  -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers \
  -include "$tree/config.h" -I"$tree/src/libstrongswan" -I"$tree/src/libcharon" -I"$tree/src/libsimaka" \
  -o "$OUT.tmp" "${SOURCES[@]/#/$SRC_DIR/}" \
  "$IPSEC_LIBDIR/libcharon.so.0" "$IPSEC_LIBDIR/libsimaka.so.0" "$IPSEC_LIBDIR/libstrongswan.so.0" \
  -Wl,-rpath,"$IPSEC_LIBDIR" -Wl,-z,defs -Wl,-z,relro -Wl,-z,now
nm -D --defined-only "$OUT.tmp" | grep -q ' T eap_aka_hpm_plugin_create$' \
  || die "eap_aka_hpm_plugin_create not exported"
mv "$OUT.tmp" "$OUT"
echo "$key" > "$OUT.key"
log "built $OUT for strongSwan $version in $(since "$t_start") s"
