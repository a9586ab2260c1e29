#!/usr/bin/env bash
# Installs the Debian packages imgbuild and its tests drive. Idempotent: packages already present are
# skipped, and apt is only consulted when something is missing.
set -euo pipefail

packages=(
  squashfs-tools   # mksquashfs: builds /usr images
  erofs-utils      # mkfs.erofs, dump.erofs: erofs /usr images and the judge of their superblock
  mtools           # mcopy/mmd: fills the ESP inside the image at an offset
  dosfstools       # mkfs.vfat, fsck.vfat
  qemu-utils       # qemu-img
  qemu-system-x86  # qemu-system-x86_64 for boot tests
  ovmf             # UEFI firmware
  cryptsetup-bin   # veritysetup: reference judge (it recomputes the manifest's image.digest)
  e2fsprogs        # filefrag: the data extents (FIEMAP) of an image, so its digest skips the holes
  gdisk            # sgdisk: reference judge
  cgpt             # ChromeOS GPT tool: reference judge, and slot selection in the test initramfs
  fdisk            # sfdisk --json: reference judge
  systemd-container # systemd-dissect: judge of sysext DDIs (what systemd itself discovers)
  systemd-boot-efi # linuxx64.efi.stub for Unified Kernel Images
  binutils         # objcopy, for inspecting UKIs in tests; turns the selector's ELF into a PE
  gcc gnu-efi      # the UEFI slot selector (packages/efi-select), C against gnu-efi
  busybox-static   # the test initramfs userland
  cpio             # packs the test initramfs
  kmod             # modinfo/depmod data when building the boot kit
  xz-utils zstd    # unpacking kernel modules
  time             # /usr/bin/time for peak RSS in the benchmark
  osslsigncode     # Authenticode signing of the selector and UKIs (reproducible with -time); a test judge
  sbsigntool       # sbverify: second judge of the signatures in the tests
  openssl          # test key pairs for Secure Boot
  librsvg2-bin     # rsvg-convert: renders the SVG disk picture in its test
  mmdebstrap       # the example OS (os/debian/build.sh): a Debian tree from Debian's packages
  e2fsprogs        # mkfs.ext4 -d, debugfs: the writable ROOT of build --root-tree
  swtpm            # a TPM 2.0 for qemu --tpm (measured boot)
  tpm2-tools       # judge of attest: tpm2_checkquote; a second TPM's quote in the attest test
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
