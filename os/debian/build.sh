#!/usr/bin/env bash
# The example OS: a usr-merged Debian 12 with systemd 254 (bookworm-backports), built only from
# Debian's packages, ready for `imgbuild build --from … --root-tree …`.
#
#   bash os/debian/build.sh [--version V] [--overlay DIR] [--pubring FILE]
#
# Last lines of stdout (progress goes to stderr):
#   usr=<abs path>      the /usr squashfs (zstd level 6: 8 s instead of 170 s at the default 15, for 10 % more;
#                       fixed times; ownership kept: dbus has a setuid helper)
#   root=<abs path>     the tree for the writable ROOT: /etc, /var, the /bin /sbin /lib /lib64 links, empty /usr
#   kernel=<abs path>   the boot kit's kernel (hack/bootkit.sh)
#   initrd=<abs path>   Debian's dracut initrd for that kernel, built with this OS's systemd 254
#   version=<V>
#
# - VERSION_ID and IMAGE_VERSION in /usr/lib/os-release become V (default 1): the image's version, what
#   the boot marker and the manifest report, and what systemd-sysupdate protects (ProtectVersion=%A)
#   and finds in the slot's label. Debian's VERSION stays.
# - --pubring FILE: the update feed publisher's OpenPGP public key (binary keyring, `gpg --export`),
#   installed as /usr/lib/systemd/import-pubring.gpg, which systemd-sysupdate verifies the feed with.
# - --overlay DIR is copied over the tree (e.g. extra units under usr/lib/systemd/system).
# - os/files/ (blessing, health target, boot marker) is always installed.
# - Reproducible: SOURCE_DATE_EPOCH (default 1700000000) for every timestamp; the package set is
#   os/debian/packages.list + minbase, systemd's packages pinned to bookworm-backports (backports.pref);
#   snapshot.debian.org is not reachable from our build machines, so the exact versions are pinned by
#   os/debian/packages.lock when it exists (`--relock` rewrites it from the last build).
# - Cached under .cache/os/ (OS_CACHE): base-<key>/ (the tree, the initrd) keyed by this folder,
#   os/files, SOURCE_DATE_EPOCH and the kernel package; os-<key>/ per version and overlay. A rerun is
#   instant. Changing os/files rebuilds only the versions. The two newest bases and six newest versions
#   are kept.
set -euo pipefail
umask 022
export LC_ALL=C
export PATH=$PATH:/usr/sbin:/sbin

die() { echo "os: error: $*" >&2; exit 1; }
log() { echo "os: $*" >&2; }
set -E
trap 'rc=$?; echo "os: error: line $LINENO: \`$BASH_COMMAND\` failed (exit $rc)" >&2; exit $rc' ERR

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
FILES=$ROOT/os/files
CACHE=${OS_CACHE:-$ROOT/.cache/os}
SDE=${SOURCE_DATE_EPOCH:-1700000000}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
VERSION=1
OVERLAY=
PUBRING=
RELOCK=

while [ $# -gt 0 ]; do
  case "$1" in
    --version) VERSION=${2:?--version needs a value}; shift 2 ;;
    --overlay) OVERLAY=$(cd "${2:?--overlay needs a folder}" && pwd); shift 2 ;;
    --relock) RELOCK=1; shift ;;
    --pubring) PUBRING=$(realpath "${2:?--pubring needs a file}"); [ -f "$PUBRING" ] || die "--pubring $2: no such file"; shift 2 ;;
    -h|--help) sed -n '2,29p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ $VERSION =~ ^[A-Za-z0-9._~-]+$ ]] || die "--version '$VERSION': letters, digits and . _ ~ - only"
[ "$(id -u)" -eq 0 ] || die "needs root (mmdebstrap --mode=root keeps the packages' owners)"
for t in mmdebstrap mksquashfs depmod apt-get dpkg flock sha256sum; do
  command -v "$t" >/dev/null || die "'$t' not found (bash hack/install-deps.sh)"
done

mkdir -p "$CACHE"
exec 8>"$CACHE/.lock"
flock -n 8 || { log "waiting for another OS build to finish"; flock 8; }

# --- the boot kit's kernel: this OS ships that kernel's modules and an initrd for it -------------
kit=$(bash "$ROOT/hack/bootkit.sh" | tail -n 2)
KERNEL=$(sed -n 's/^kernel=//p' <<<"$kit")
KPKG=$(sed -n 's/^kernel_package=//p' "$(dirname "$KERNEL")/kit.info")
KVERSION=$(sed -n 's/^kernel_version=//p' "$(dirname "$KERNEL")/kit.info")
KVER=${KPKG#linux-image-}
[ -n "$KPKG" ] && [ -n "$KVERSION" ] || die "cannot read the kernel package from $(dirname "$KERNEL")/kit.info"

# --- mmdebstrap's arguments, shared by the OS and the initrd builder -----------------------------
mapfile -t PACKAGES < <(sed -e 's/#.*//' -e '/^\s*$/d' "$HERE/packages.list")
# the initrd builder's own: Ignition and what its dracut module needs (initrd-packages.list)
mapfile -t INITRD_PACKAGES < <(sed -e 's/#.*//' -e '/^\s*$/d' "$HERE/initrd-packages.list")
SOURCES=(
  "deb $MIRROR bookworm main"
  "deb $MIRROR bookworm-updates main"
  "deb $SECURITY bookworm-security main"
  "deb $MIRROR bookworm-backports main"
)
LOCK=$HERE/packages.lock
common_args() {
  printf '%s\n' --variant=minbase --mode=root --skip=output/dev \
    --aptopt='APT::Install-Recommends "false"' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --setup-hook="mkdir -p \"\$1/etc/apt/preferences.d\" && cp '$HERE/backports.pref' \"\$1/etc/apt/preferences.d/90-systemd-backports.pref\""
  # the lock: every package at the version it had when the lock was written (apt fails loudly when
  # the mirror no longer carries it; rerun with --relock then)
  if [ -f "$LOCK" ] && [ -z "$RELOCK" ]; then
    printf '%s\n' --setup-hook="awk '!/^#/ && NF == 2 { printf \"Package: %s\\nPin: version %s\\nPin-Priority: 1001\\n\\n\", \$1, \$2 }' '$LOCK' >\"\$1/etc/apt/preferences.d/99-lock.pref\"" \
      --customize-hook='rm -f "$1/etc/apt/preferences.d/99-lock.pref"'
  fi
}

# What the initrd takes from os/files as well (the watchdog from the initrd onward: docs/boot.md).
INITRD_FILES=(usr/lib/systemd/system.conf.d/50-imgbuild-watchdog.conf usr/lib/modprobe.d/imgbuild-watchdog.conf)

BASE_KEY=$( {
  echo "$SDE $KPKG $KVERSION $MIRROR $SECURITY"
  (cd "$HERE" && find . -type f | sort | xargs sha256sum)
  (cd "$FILES" && sha256sum "${INITRD_FILES[@]}")
} | sha256sum | cut -c1-16)
BASE=$CACHE/base-$BASE_KEY

if [ ! -f "$BASE/.complete" ]; then
  rm -rf "$BASE" "$BASE.tmp"
  mkdir -p "$BASE.tmp"
  export SOURCE_DATE_EPOCH=$SDE

  # the kernel's whole module tree (the boot kit keeps only what its own initramfs loads)
  KDEB_DIR=$CACHE/kernel/${KPKG}_$KVERSION
  if [ ! -f "$KDEB_DIR/.complete" ]; then
    log "fetching $KPKG $KVERSION for its modules"
    rm -rf "$KDEB_DIR" && mkdir -p "$KDEB_DIR/deb"
    (cd "$KDEB_DIR/deb" && apt-get download -q "$KPKG=$KVERSION" >&2)
    dpkg -x "$KDEB_DIR"/deb/*.deb "$KDEB_DIR/x"
    mkdir -p "$KDEB_DIR/modules"
    mv "$KDEB_DIR/x/lib/modules/$KVER" "$KDEB_DIR/modules/$KVER"
    rm -rf "$KDEB_DIR/x" "$KDEB_DIR/deb"
    touch "$KDEB_DIR/.complete"
  fi
  MODULES=$KDEB_DIR/modules/$KVER
  add_modules='mkdir -p "$1/usr/lib/modules" && cp -a "'$MODULES'" "$1/usr/lib/modules/" && depmod -b "$1" '$KVER

  log "mmdebstrap: the OS tree (about a minute)"
  t0=$(date +%s)
  mapfile -t ARGS < <(common_args)
  mmdebstrap "${ARGS[@]}" --format=directory --include="$(IFS=,; echo "${PACKAGES[*]}")" \
    --customize-hook="$add_modules" \
    --customize-hook="chroot \"\$1\" dpkg-query -W -f='\${Package} \${Version}\n' | sort >'$BASE.tmp/packages.lock'" \
    bookworm "$BASE.tmp/tree" "${SOURCES[@]}" >&2
  log "OS tree in $(($(date +%s) - t0)) s"

  # Debian's own dracut builds the initrd, in a throwaway tree of the same packages + dracut, so the
  # initrd's systemd is this OS's systemd 254. No dracut.conf: the modules are named here.
  # Self-healing (docs/boot.md): the watchdog driver and its core (dracut adds only drivers the build
  # machine itself has under /sys/class/watchdog), PID 1's watchdog and crash settings, the driver's
  # nowayout, and dracut's own emergency mode rebooting instead of halting (rd.emergency=reboot).
  log "mmdebstrap + dracut: the initrd"
  t0=$(date +%s)
  DRACUT="dracut --force --reproducible --no-hostonly --no-hostonly-cmdline --kver $KVER \
--modules 'systemd systemd-initrd systemd-veritysetup systemd-pcrphase dracut-systemd dm base fs-lib rootfs-block udev-rules kernel-modules' \
--drivers 'virtio_pci virtio_blk dm_mod dm_verity squashfs ext4 i6300esb watchdog' \
--include /tmp/imgbuild/watchdog.conf /etc/systemd/system.conf.d/50-imgbuild-watchdog.conf \
--include /tmp/imgbuild/modprobe.conf /etc/modprobe.d/imgbuild-watchdog.conf \
--include /tmp/imgbuild/cmdline.conf /etc/cmdline.d/50-imgbuild.conf \
--add ignition --add-drivers qemu_fw_cfg --install 'sha256sum sync grep sed tail head cut tr wc cat rm mkdir' --include /tmp/imgbuild/initrd / \
--compress zstd /tmp/initrd.img"
  put_initrd_files="mkdir -p \"\$1/tmp/imgbuild\" && cp '$FILES/${INITRD_FILES[0]}' \"\$1/tmp/imgbuild/watchdog.conf\" \
&& cp '$FILES/${INITRD_FILES[1]}' \"\$1/tmp/imgbuild/modprobe.conf\" && cp '$HERE/initrd-cmdline.conf' \"\$1/tmp/imgbuild/cmdline.conf\" \
&& cp -a '$HERE/initrd' \"\$1/tmp/imgbuild/initrd\""
  mmdebstrap "${ARGS[@]}" --format=null --include="$(IFS=,; echo "${PACKAGES[*]} ${INITRD_PACKAGES[*]}" | tr ' ' ,),dracut-core,zstd,binutils" \
    --customize-hook="$add_modules" \
    --customize-hook="$put_initrd_files" \
    --customize-hook="SOURCE_DATE_EPOCH=$SDE chroot \"\$1\" $DRACUT >&2" \
    --customize-hook="cp \"\$1/tmp/initrd.img\" '$BASE.tmp/initrd.img'" \
    --customize-hook="chroot \"\$1\" dpkg-query -W -f='\${Package} \${Version}\n' | sort >'$BASE.tmp/packages-initrd.lock'" \
    bookworm /dev/null "${SOURCES[@]}" >&2
  log "initrd in $(($(date +%s) - t0)) s ($(du -k "$BASE.tmp/initrd.img" | cut -f1) KiB)"

  T=$BASE.tmp/tree
  [ -x "$T/usr/lib/systemd/systemd-veritysetup" ] || die "the OS has no systemd-veritysetup"
  # what must not differ between two builds, or must not be shared by every machine
  rm -rf "$T"/var/log/* "$T"/var/cache/apt/* "$T"/var/lib/apt/lists/* "$T"/var/cache/ldconfig/aux-cache \
    "$T"/var/lib/dpkg/*-old "$T"/var/cache/debconf/*-old "$T"/etc/*- "$T"/etc/ssh/ssh_host_* "$T"/tmp/* "$T"/run/*
  # "uninitialized": the first boot is a first boot for systemd (ConditionFirstBoot: presets applied, so
# units Ignition enables start; systemd-firstboot takes firstboot.* credentials); systemd makes the
# machine ID then and commits it (ROOT is writable). An empty file would not count as a first boot.
echo uninitialized >"$T/etc/machine-id"
  # a system that talks DHCP on any wired link when it has one; the tests run without a NIC
  mkdir -p "$T/etc/systemd/network" "$T/etc/systemd/system/multi-user.target.wants"
  printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n' >"$T/etc/systemd/network/80-wired.network"
  ln -sf /usr/lib/systemd/system/systemd-networkd.service "$T/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
  find "$T" -exec touch -h -d "@$SDE" {} + # install scripts and hooks stamped files with the build time
  echo "${KPKG} ${KVERSION}" >>"$BASE.tmp/packages.lock"
  touch "$BASE.tmp/.complete"
  mv "$BASE.tmp" "$BASE"
fi
if [ -n "$RELOCK" ]; then
  # the OS's packages and the initrd builder's (dracut-core, zstd, binutils and what they pull in)
  {
    printf '# Package versions of the example OS (os/debian/build.sh pins each with an apt preference, priority\n'
    printf '# 1001). Rewrite with: bash os/debian/build.sh --relock\n'
    cat "$BASE/packages.lock" "$BASE/packages-initrd.lock" 2>/dev/null | grep -v '^linux-image-' | sort -u
  } >"$LOCK"
  log "wrote $LOCK ($(wc -l <"$LOCK") packages)"
fi

# --- one version of the OS: os-release, overlay, the squashfs and the ROOT tree ------------------
VAR_KEY=$( {
  echo "$BASE_KEY $VERSION"
  (cd "$FILES" && find . | sort && find . -type f | sort | xargs sha256sum && sha256sum <usr/lib/imgbuild/bless-rules.sh)
  [ -z "$OVERLAY" ] || (cd "$OVERLAY" && find . | sort && find . -type f | sort | xargs -r sha256sum)
  [ -z "$PUBRING" ] || sha256sum <"$PUBRING"
} | sha256sum | cut -c1-16)
OUT=$CACHE/os-$VAR_KEY
if [ ! -f "$OUT/.complete" ]; then
  log "version $VERSION: squashfs and ROOT tree (key $VAR_KEY)"
  rm -rf "$OUT" "$OUT.tmp"
  mkdir -p "$OUT.tmp"
  T=$OUT.tmp/tree
  cp -al "$BASE/tree" "$T" # hard links: only what changes below is copied (cp --remove-destination)
  osr=$(sed -E "s/^VERSION_ID=.*/VERSION_ID=\"$VERSION\"/" "$T/usr/lib/os-release")
  rm "$T/usr/lib/os-release" && printf '%s\n' "$osr" >"$T/usr/lib/os-release"
  grep -q '^VERSION_ID=' "$T/usr/lib/os-release" || echo "VERSION_ID=\"$VERSION\"" >>"$T/usr/lib/os-release"
  echo "IMAGE_VERSION=$VERSION" >>"$T/usr/lib/os-release"
  # blessing, health, marker (os/files; their enablement links live in /usr, not /etc), then the overlay
  sh "$FILES/install.sh" "$T"
  # first-boot provisioning (docs/boot.md § 12): Ignition's signal on ROOT, cleared by a successful run;
  # home directories under /var, so that provisioning changes only /etc and /var
  mkdir -p "$T/var/lib/imgbuild" && printf 'platform=qemu\n' >"$T/var/lib/imgbuild/ignition-firstboot"
  if [ -d "$T/home" ] && [ ! -L "$T/home" ]; then rmdir "$T/home" && mkdir -p "$T/var/home" && ln -s var/home "$T/home"; fi
  # no SELinux: Debian's Ignition reads this before it relabels what it wrote (docs/boot.md § 12)
  mkdir -p "$T/etc/selinux" && printf 'SELINUX=disabled\nSELINUXTYPE=default\n' >"$T/etc/selinux/config"
  [ -z "$OVERLAY" ] || cp -a --remove-destination "$OVERLAY/." "$T/"
  [ -z "$PUBRING" ] || install -m 0644 "$PUBRING" "$T/usr/lib/systemd/import-pubring.gpg"
  # the overlay and os-release: every time that is not SDE already (the rest shares inodes with base)
  find "$T" ! \( -newermt "@$((SDE - 1))" ! -newermt "@$SDE" \) -exec touch -h -d "@$SDE" {} +
  t0=$(date +%s)
  # mksquashfs refuses SOURCE_DATE_EPOCH in its environment together with the explicit times
  env -u SOURCE_DATE_EPOCH mksquashfs "$T/usr" "$OUT.tmp/usr.squashfs" -noappend -quiet -no-progress \
    -comp zstd -Xcompression-level 6 -mkfs-time "$SDE" -all-time "$SDE" >&2
  log "squashfs in $(($(date +%s) - t0)) s: $(du -m "$OUT.tmp/usr.squashfs" | cut -f1) MiB"
  # ROOT: everything but /usr's contents
  mkdir "$OUT.tmp/root"
  for e in "$T"/* "$T"/.[!.]*; do
    [ -e "$e" ] || [ -L "$e" ] || continue
    [ "$(basename "$e")" = usr ] && continue
    mv "$e" "$OUT.tmp/root/"
  done
  mkdir "$OUT.tmp/root/usr" && touch -d "@$SDE" "$OUT.tmp/root/usr"
  rm -rf "$T"
  cp "$BASE/initrd.img" "$OUT.tmp/initrd.img"
  cp "$BASE/packages.lock" "$OUT.tmp/packages.lock"
  touch "$OUT.tmp/.complete"
  mv "$OUT.tmp" "$OUT"
fi

# keep the two most recent bases (≈ 600 MB each) and six versions (≈ 150 MB each); a changed input makes new ones
touch "$BASE" "$OUT"
ls -1dt "$CACHE"/base-* 2>/dev/null | grep -v '\.tmp$' | tail -n +3 | while read -r old; do rm -rf "$old"; done
ls -1dt "$CACHE"/os-* 2>/dev/null | grep -v '\.tmp$' | tail -n +7 | while read -r old; do rm -rf "$old"; done

echo "usr=$OUT/usr.squashfs"
echo "root=$OUT/root"
echo "kernel=$KERNEL"
echo "initrd=$OUT/initrd.img"
echo "version=$VERSION"
