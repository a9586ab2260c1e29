#!/usr/bin/env bash
# The boot kit: a test kernel and initramfs for booting imgbuild images under qemu, built only from
# Debian packages.
#
#   bash hack/bootkit.sh                # prints ... kernel=<abs path> / initrd=<abs path> as its last two lines
#   bash hack/bootkit.sh --arch arm64   # the same for arm64 images, built on this amd64 host
#
# - Kernel and modules come from the linux-image-*-amd64 package that the linux-image-amd64
#   metapackage currently depends on: `apt-get download` + `dpkg -x`, never installed.
# - Userland: busybox (busybox-static), cgpt (cgpt) and veritysetup (cryptsetup-bin) as installed on
#   this machine (hack/install-deps.sh), with the shared libraries ldd reports, placed in /lib,
#   /lib/x86_64-linux-gnu and /lib64 (never /usr: /init mounts the verified /usr over it).
# - arm64 (--arch arm64): Debian's arm64 kernel package the same way; busybox-static, cgpt and
#   cryptsetup-bin of arm64 extracted (hack/foreign-deb.sh); their libraries from the arm64 library
#   packages hack/install-deps.sh installs beside the host's (Multi-Arch), found by their DT_NEEDED
#   entries (readelf: nothing of arm64 runs here), all in /lib, which /init's LD_LIBRARY_PATH holds.
# - /init is hack/initramfs/init (see docs/boot.md).
# - The cpio is reproducible: sorted names, mtimes = SOURCE_DATE_EPOCH, owner root, newc, gzip -n.
#
# Cached under .cache/bootkit/ (override with BOOTKIT_CACHE): the extracted kernel per package
# version, and the kit per key = hash(kernel package+version, every file put into the initramfs, this
# script). A rerun with everything present only recomputes the key. Safe to run concurrently (flock).
set -euo pipefail
umask 022
ARCH=amd64
case "${1:-}" in
  "") ;;
  --arch) ARCH=${2:-} ;;
  --arch=*) ARCH=${1#*=} ;;
  *) echo "usage: bootkit.sh [--arch amd64|arm64]" >&2; exit 2 ;;
esac
case "$ARCH" in
  amd64 | x86-64 | x86_64) ARCH=amd64 ;;
  arm64 | aarch64) ARCH=arm64 ;;
  *) echo "bootkit: error: unknown architecture '$ARCH' (amd64 or arm64)" >&2; exit 2 ;;
esac
export LC_ALL=C
export PATH=$PATH:/usr/sbin:/sbin # depmod, veritysetup for non-root users

die() { echo "bootkit: error: $*" >&2; exit 1; }
log() { echo "bootkit: $*" >&2; }
# anything unexpected fails loudly too, naming the command
set -E
trap 'rc=$?; echo "bootkit: error: line $LINENO: \`$BASH_COMMAND\` failed (exit $rc)" >&2; exit $rc' ERR

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo # only for apt-get update
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${BOOTKIT_CACHE:-$ROOT/.cache/bootkit}
SDE=${SOURCE_DATE_EPOCH:-1700000000}
INITSRC=$ROOT/hack/initramfs
USR_TYPE_MODULES=(virtio_pci_legacy_dev virtio_pci_modern_dev virtio_ring virtio virtio_pci virtio_blk
  dm-mod dm-bufio reed_solomon dm-verity squashfs)
OPTIONAL_MODULES=(erofs) # loaded when present; lets /usr be an erofs image too
WATCHDOG_MODULES=(i6300esb) # qemu's watchdog and the watchdog core; /init arms it when the device is there

for t in apt-get apt-cache dpkg dpkg-deb depmod cpio gzip ldd readelf sha256sum flock find sort; do
  command -v "$t" >/dev/null || die "'$t' not found (install Debian packages: bash hack/install-deps.sh)"
done
if [ "$ARCH" = amd64 ]; then
  BUSYBOX=/usr/bin/busybox
  CGPT=$(command -v cgpt || true)
  VERITYSETUP=$(command -v veritysetup || true)
  [ -x "$BUSYBOX" ] || die "$BUSYBOX missing: apt-get install busybox-static (or bash hack/install-deps.sh)"
  case "$("$BUSYBOX" --help 2>&1 || true)" in *BusyBox*) ;; *) die "$BUSYBOX is not busybox" ;; esac
  ldd "$BUSYBOX" >/dev/null 2>&1 && die "$BUSYBOX is dynamically linked: install busybox-static, not busybox"
  APPLETS=$("$BUSYBOX" --list)
else
  FOREIGN=$(bash "$ROOT/hack/foreign-deb.sh" arm64 busybox-static cgpt cryptsetup-bin) || die "cannot extract the arm64 userland (bash hack/install-deps.sh)"
  from_deb() { echo "$FOREIGN" | sed -n "s|^$1=||p"; }
  BUSYBOX=$(from_deb busybox-static)/bin/busybox
  CGPT=$(from_deb cgpt)/usr/bin/cgpt
  VERITYSETUP=$(from_deb cryptsetup-bin)/sbin/veritysetup
  [ -f "$BUSYBOX" ] || die "$BUSYBOX missing from busybox-static:arm64"
  readelf -l "$BUSYBOX" | grep -q 'program interpreter' && die "$BUSYBOX is dynamically linked"
  # The applet links come from the host's busybox-static of the same version (the arm64 one cannot run here).
  host_bb=$(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || true)
  [ "$(cut -d' ' -f2 "$(from_deb busybox-static)/.package")" = "$host_bb" ] ||
    die "busybox-static:arm64 is not the host's version $host_bb: apt-get install busybox-static=<the arm64 version>"
  APPLETS=$(/usr/bin/busybox --list)
fi
for f in "$CGPT" "$VERITYSETUP"; do [ -n "$f" ] && [ -f "$f" ] || die "cgpt or veritysetup missing ($f): bash hack/install-deps.sh"; done
[ -f "$INITSRC/init" ] || die "$INITSRC/init missing"

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock -n 9 || { log "waiting for another bootkit run to finish"; flock 9; }

# --- which kernel package ----------------------------------------------------------------------
# The metapackage pins its kernel: "Depends: linux-image-6.1.0-57-amd64 (= 6.1.192-3)". One apt-cache
# call (each reads the whole cache, twice as large with arm64 beside amd64) gives package and version.
kernel_pkg() {
  apt-cache show --no-all-versions "linux-image-$ARCH:$ARCH" 2>/dev/null |
    awk -v a="$ARCH" '/^Depends:/ && !n++ { if (match($0, "linux-image-[0-9][^ ,]*-" a)) { p = substr($0, RSTART, RLENGTH); v = ""; if (match($0, p " \\(= [^)]+\\)")) { v = substr($0, RSTART + length(p) + 4, RLENGTH - length(p) - 5) } print p, v } }'
}
read -r PKG VER < <(kernel_pkg || true) || true
if [ -z "${PKG:-}" ]; then
  log "no package lists for linux-image-$ARCH; running apt-get update"
  $SUDO apt-get update -qq >&2 || die "apt-get update failed (need root and access to the Debian mirrors)"
  read -r PKG VER < <(kernel_pkg || true) || true
fi
[ -n "${PKG:-}" ] || die "cannot find the kernel package linux-image-$ARCH depends on (apt-cache show linux-image-$ARCH:$ARCH)"
[ -n "${VER:-}" ] || VER=$(apt-cache show --no-all-versions "$PKG:$ARCH" 2>/dev/null | awk '/^Version:/ && !n++ { print $2 }' || true)
[ -n "$VER" ] || die "apt-cache knows no version of $PKG:$ARCH"
KVER=${PKG#linux-image-}

# --- kernel + modules, extracted once per package version ---------------------------------------
KDIR=$CACHE/kernel/${PKG}_${VER}
WANTED="${USR_TYPE_MODULES[*]} ${OPTIONAL_MODULES[*]} ${WATCHDOG_MODULES[*]}"
# a kernel extracted for another set of modules is extracted again
[ "$(cat "$KDIR/wanted" 2>/dev/null || echo "${USR_TYPE_MODULES[*]} ${OPTIONAL_MODULES[*]}")" = "$WANTED" ] || rm -f "$KDIR/.complete"
if [ ! -f "$KDIR/.complete" ]; then
  log "fetching $PKG $VER"
  rm -rf "$KDIR" "$KDIR.tmp"
  mkdir -p "$KDIR.tmp/deb"
  download() { (cd "$KDIR.tmp/deb" && apt-get download "$PKG:$ARCH=$VER" >&2 2>"$KDIR.tmp/apt.err"); }
  if ! download; then
    log "apt-get download failed ($(tail -1 "$KDIR.tmp/apt.err")); running apt-get update and retrying"
    $SUDO apt-get update -qq >&2 || die "apt-get update failed"
    download || die "apt-get download $PKG=$VER failed: $(cat "$KDIR.tmp/apt.err")"
  fi
  deb=$(ls "$KDIR.tmp"/deb/*.deb) || die "apt-get download left no .deb in $KDIR.tmp/deb"
  dpkg -x "$deb" "$KDIR.tmp/x" || die "dpkg -x $deb failed"
  [ -f "$KDIR.tmp/x/boot/vmlinuz-$KVER" ] || die "$deb holds no boot/vmlinuz-$KVER"
  MODROOT=$KDIR.tmp/x/lib/modules/$KVER
  [ -d "$MODROOT" ] || MODROOT=$KDIR.tmp/x/usr/lib/modules/$KVER
  [ -d "$MODROOT" ] || die "$deb holds no lib/modules/$KVER"
  depmod -b "${MODROOT%/lib/modules/$KVER}" "$KVER" || die "depmod failed"
  mkdir -p "$KDIR.tmp/out/modules"
  cp "$KDIR.tmp/x/boot/vmlinuz-$KVER" "$KDIR.tmp/out/vmlinuz"
  cp "$MODROOT/modules.dep" "$MODROOT/modules.builtin" "$KDIR.tmp/out/"
  # keep the modules we may need (and everything they depend on), decompressed
  for m in "${USR_TYPE_MODULES[@]}" "${OPTIONAL_MODULES[@]}" "${WATCHDOG_MODULES[@]}"; do
    n=${m//-/_}
    awk -F: -v a="$m" -v b="$n" '{ f = $1; sub(/.*\//, "", f); sub(/\.ko(\.(xz|zst|gz))?$/, "", f);
      g = f; gsub(/-/, "_", g); if (g == b) { print $0 } }' "$MODROOT/modules.dep"
  done | tr ' :' '\n\n' | grep -E '\.ko' | sort -u | while read -r rel; do
    mkdir -p "$KDIR.tmp/out/modules/$(dirname "$rel")"
    case "$rel" in
      *.ko.xz) xz -dc "$MODROOT/$rel" >"$KDIR.tmp/out/modules/${rel%.xz}" ;;
      *.ko.zst) zstd -qdc "$MODROOT/$rel" >"$KDIR.tmp/out/modules/${rel%.zst}" ;;
      *.ko.gz) gzip -dc "$MODROOT/$rel" >"$KDIR.tmp/out/modules/${rel%.gz}" ;;
      *) cp "$MODROOT/$rel" "$KDIR.tmp/out/modules/$rel" ;;
    esac
  done
  sed -E 's/\.ko\.(xz|zst|gz)/.ko/g' "$MODROOT/modules.dep" >"$KDIR.tmp/out/modules.dep"
  echo "$PKG $VER" >"$KDIR.tmp/out/package"
  echo "$WANTED" >"$KDIR.tmp/out/wanted"
  touch "$KDIR.tmp/out/.complete"
  mv "$KDIR.tmp/out" "$KDIR"
  rm -rf "$KDIR.tmp"
fi

# --- module load order: modules.dep, dependencies first ------------------------------------------
declare -A DEP SEEN BYNAME
while IFS=: read -r mod deps; do
  DEP[$mod]=$deps
  b=${mod##*/}; b=${b%.ko}; BYNAME[${b//-/_}]=$mod
done <"$KDIR/modules.dep"
ORDER=()
path_of() { local n=${1//-/_}; echo "${BYNAME[$n]:-}"; } # module name (- or _) -> path in modules.dep
visit() {
  local p=$1 d i
  [ -n "${SEEN[$p]:-}" ] && return
  SEEN[$p]=1
  local -a ds=(${DEP[$p]})
  for ((i = ${#ds[@]} - 1; i >= 0; i--)); do visit "${ds[i]}"; done # modprobe loads the list's end first
  ORDER+=("$p")
}
for m in "${USR_TYPE_MODULES[@]}"; do
  p=$(path_of "$m")
  if [ -z "$p" ]; then
    grep -qE "/${m}\.ko|/${m//-/_}\.ko" "$KDIR/modules.builtin" && continue # built into the kernel
    die "module $m is neither in modules.dep nor built into $KVER"
  fi
  visit "$p"
done
OPTIONAL_ORDER=()
for m in "${OPTIONAL_MODULES[@]}"; do
  p=$(path_of "$m")
  [ -n "$p" ] || continue
  before=${#ORDER[@]}
  visit "$p"
  OPTIONAL_ORDER+=("${ORDER[@]:before}")
  ORDER=("${ORDER[@]:0:before}")
done

WATCHDOG_ORDER=()
for m in "${WATCHDOG_MODULES[@]}"; do
  p=$(path_of "$m")
  [ -n "$p" ] || die "module $m is not in modules.dep of $KVER"
  before=${#ORDER[@]}
  visit "$p"
  WATCHDOG_ORDER+=("${ORDER[@]:before}")
  ORDER=("${ORDER[@]:0:before}")
done

# --- userland files: busybox, cgpt, veritysetup and their libraries -----------------------------
if [ "$ARCH" = amd64 ]; then
  libs_of() { ldd "$1" | awk '/=> \// { print $3 } /^\t\/[^ ]+ \(0x/ { print $1 }'; }
else
  # arm64: the interpreter and DT_NEEDED, recursively, from the arm64 library packages (Multi-Arch)
  ARM64_LIBDIRS=(/lib/aarch64-linux-gnu /usr/lib/aarch64-linux-gnu)
  find_lib() { local d; for d in "${ARM64_LIBDIRS[@]}"; do [ -e "$d/$1" ] && { echo "$d/$1"; return; }; done; die "arm64 library $1 not found (bash hack/install-deps.sh installs them)"; }
  libs_of() {
    local seen=" " todo=("$1") f n
    readelf -l "$1" | sed -n 's|.*program interpreter: \(/[^]]*\)\].*|\1|p'
    while [ ${#todo[@]} -gt 0 ]; do
      f=${todo[0]}; todo=("${todo[@]:1}")
      for n in $(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
        case "$seen" in *" $n "*) continue ;; esac
        seen="$seen$n "
        p=$(find_lib "$n")
        echo "$p"
        todo+=("$p")
      done
    done
  }
fi
mapfile -t LIBS < <( { libs_of "$CGPT"; libs_of "$VERITYSETUP"; } | sort -u)
[ ${#LIBS[@]} -gt 0 ] || die "ldd found no libraries for $CGPT / $VERITYSETUP"
for l in "${LIBS[@]}"; do [ -f "$l" ] || die "library $l (from ldd) not found"; done

# --- cache key --------------------------------------------------------------------------------
KEY=$( {
  echo "$ARCH $PKG $VER $SDE"
  sha256sum "${BASH_SOURCE[0]}" "$BUSYBOX" "$CGPT" "$VERITYSETUP" "${LIBS[@]}" | awk '{ print $1 }'
  (cd "$INITSRC" && find . -type f | sort | xargs sha256sum)
  printf '%s\n' "${ORDER[@]}" "${OPTIONAL_ORDER[@]}" "${WATCHDOG_ORDER[@]}"
} | sha256sum | cut -c1-16)
OUT=$CACHE/kit-$KEY
if [ ! -f "$OUT/.complete" ]; then
  log "building initramfs (key $KEY)"
  rm -rf "$OUT" "$OUT.tmp"
  S=$OUT.tmp/root
  mkdir -p "$S"/{bin,sbin,dev,proc,sys,run,tmp,usr,etc,lib/modules,lib/x86_64-linux-gnu,lib64}
  chmod 1777 "$S/tmp"
  install -m 0755 "$BUSYBOX" "$S/bin/busybox"
  for a in $APPLETS; do
    [ "$a" = busybox ] || ln -s busybox "$S/bin/$a"
  done
  install -m 0755 "$CGPT" "$S/sbin/cgpt"
  install -m 0755 "$VERITYSETUP" "$S/sbin/veritysetup"
  # amd64: where ldd found them; arm64: the interpreter where its binaries ask for it, the rest in /lib
  if [ "$ARCH" = amd64 ]; then interp_dir=lib64 lib_dir=lib/x86_64-linux-gnu; else interp_dir=lib lib_dir=lib; fi
  for l in "${LIBS[@]}"; do
    case "$l" in
      */ld-linux*.so*) install -m 0755 "$l" "$S/$interp_dir/$(basename "$l")" ;;
      *) install -m 0644 "$l" "$S/$lib_dir/$(basename "$l")" ;;
    esac
  done
  : >"$S/lib/modules/load.order"
  for p in "${ORDER[@]}"; do
    install -m 0644 "$KDIR/modules/$p" "$S/lib/modules/$(basename "$p")"
    basename "$p" >>"$S/lib/modules/load.order"
  done
  : >"$S/lib/modules/optional.order"
  for p in "${OPTIONAL_ORDER[@]}"; do
    [ -f "$S/lib/modules/$(basename "$p")" ] || install -m 0644 "$KDIR/modules/$p" "$S/lib/modules/$(basename "$p")"
    basename "$p" >>"$S/lib/modules/optional.order"
  done
: >"$S/lib/modules/watchdog.order"
  for p in "${WATCHDOG_ORDER[@]}"; do
    [ -f "$S/lib/modules/$(basename "$p")" ] || install -m 0644 "$KDIR/modules/$p" "$S/lib/modules/$(basename "$p")"
    basename "$p" >>"$S/lib/modules/watchdog.order"
  done
  echo "$KVER" >"$S/lib/modules/kernel.release"
  (cd "$INITSRC" && find . -type f | sort) | while read -r f; do
    mkdir -p "$S/$(dirname "$f")"
    if [ -x "$INITSRC/$f" ]; then mode=0755; else mode=0644; fi
    install -m "$mode" "$INITSRC/$f" "$S/$f"
  done
  chmod 0755 "$S/init"
  printf 'root:x:0:0:root:/:/bin/sh\n' >"$S/etc/passwd"
  printf 'root:x:0:\n' >"$S/etc/group"
  find "$S" -exec touch -h -d "@$SDE" {} +
  (cd "$S" && find . -mindepth 1 -print0 | sort -z |
    cpio --null --reproducible --quiet -o -H newc -R 0:0) | gzip -n -9 >"$OUT.tmp/initrd.img"
  cp "$KDIR/vmlinuz" "$OUT.tmp/vmlinuz"
  {
    echo "architecture=$ARCH"
    echo "kernel_package=$PKG"
    echo "kernel_version=$VER"
    echo "source_date_epoch=$SDE"
    echo "initrd_sha256=$(sha256sum "$OUT.tmp/initrd.img" | cut -d' ' -f1)"
    echo "kernel_sha256=$(sha256sum "$OUT.tmp/vmlinuz" | cut -d' ' -f1)"
  } >"$OUT.tmp/kit.info"
  rm -rf "$S"
  touch "$OUT.tmp/.complete"
  mv "$OUT.tmp" "$OUT"
  log "initramfs $(du -k "$OUT/initrd.img" | cut -f1) KiB, modules: $(printf '%s ' "${ORDER[@]##*/}")"
fi
CURRENT=current
[ "$ARCH" = amd64 ] || CURRENT=current-$ARCH
ln -sfn "kit-$KEY" "$CACHE/$CURRENT.tmp" && mv -T "$CACHE/$CURRENT.tmp" "$CACHE/$CURRENT"
# keep the four most recent kits (each ≈ 14 MB; two architectures); a changed input makes a new one
touch "$OUT"
ls -1dt "$CACHE"/kit-* 2>/dev/null | grep -v '\.tmp$' | tail -n +5 | while read -r old; do rm -rf "$old"; done

echo "kernel=$OUT/vmlinuz"
echo "initrd=$OUT/initrd.img"
