#!/usr/bin/env bash
# Extracts Debian packages of another architecture that cannot be installed beside this host's own
# (gnu-efi:arm64 and busybox-static:arm64 have no Multi-Arch field; cgpt and cryptsetup-bin ship the
# same paths as the amd64 ones): `apt-get download` + `dpkg-deb -x`, never installed.
#
#   bash hack/foreign-deb.sh ARCH PACKAGE[=VERSION] ...   # prints one line per package: <package>=<abs dir>
#
# Each package lands in .cache/foreign/<arch>/<package>_<version>/ (override with FOREIGN_CACHE), once
# per version, and .cache/foreign/<arch>/<package> links to the last one asked for: a rerun with everything present only asks apt-cache for the candidate version. Needs the
# architecture in dpkg's list (hack/install-deps.sh adds arm64). Safe to run concurrently (flock).
set -euo pipefail
export LC_ALL=C

die() { echo "foreign-deb: error: $*" >&2; exit 1; }
[ $# -ge 2 ] || die "usage: foreign-deb.sh ARCH PACKAGE[=VERSION] ..."
ARCH=$1
shift
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${FOREIGN_CACHE:-$ROOT/.cache/foreign}/$ARCH
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo

dpkg --print-foreign-architectures | grep -qx "$ARCH" || [ "$(dpkg --print-architecture)" = "$ARCH" ] ||
  die "dpkg does not know the architecture $ARCH: run bash hack/install-deps.sh (it adds it)"
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9

candidate() { apt-cache show --no-all-versions "$1:$ARCH" 2>/dev/null | awk '/^Version:/ && !n++ { print $2 }'; }
# One apt-cache call for every package without a version (each call reads the whole cache: ≈ 1 s).
declare -A CANDIDATE
unversioned=()
for spec in "$@"; do [ "$spec" = "${spec%%=*}" ] && unversioned+=("$spec:$ARCH"); done
if [ ${#unversioned[@]} -gt 0 ]; then
  while read -r p v; do CANDIDATE[$p]=$v; done < <(apt-cache show --no-all-versions "${unversioned[@]}" 2>/dev/null |
    awk '/^Package:/ { p = $2 } /^Version:/ && !seen[p]++ { print p, $2 }')
fi

for spec in "$@"; do
  pkg=${spec%%=*}
  ver=
  [ "$spec" = "$pkg" ] || ver=${spec#*=}
  [ -n "$ver" ] || ver=${CANDIDATE[$pkg]:-}
  [ -n "$ver" ] || ver=$(candidate "$pkg")
  if [ -z "$ver" ]; then
    $SUDO apt-get update -qq >&2 || die "apt-get update failed"
    ver=$(candidate "$pkg")
  fi
  [ -n "$ver" ] || die "apt knows no $pkg:$ARCH (apt-cache show $pkg:$ARCH)"
  out=$CACHE/${pkg}_${ver//:/%3a}
  if [ ! -f "$out/.complete" ]; then
    rm -rf "$out" "$out.tmp"
    mkdir -p "$out.tmp/deb"
    (cd "$out.tmp/deb" && apt-get download -q "$pkg:$ARCH=$ver" >/dev/null 2>"$out.tmp/apt.err") || {
      $SUDO apt-get update -qq >&2 || true
      (cd "$out.tmp/deb" && apt-get download -q "$pkg:$ARCH=$ver" >/dev/null 2>"$out.tmp/apt.err")
    } || die "apt-get download $pkg:$ARCH=$ver failed: $(grep -v '^W:' "$out.tmp/apt.err" | tail -1)"
    dpkg-deb -x "$out.tmp"/deb/*.deb "$out.tmp/root"
    echo "$pkg $ver $ARCH" >"$out.tmp/root/.package"
    touch "$out.tmp/root/.complete"
    mv "$out.tmp/root" "$out"
    rm -rf "$out.tmp"
  fi
  ln -sfn "$(basename "$out")" "$CACHE/$pkg.tmp" && mv -T "$CACHE/$pkg.tmp" "$CACHE/$pkg" # the current one, by name
  echo "$pkg=$out"
done
