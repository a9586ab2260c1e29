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
  # arm64 images, built on this amd64 host (packages/core/src/arch.ts)
  gcc-aarch64-linux-gnu    # cross-builds the selector for aarch64 (gnu-efi:arm64 is extracted, below)
  qemu-system-arm          # qemu-system-aarch64 -M virt for arm64 boot tests
  qemu-efi-aarch64         # AAVMF: UEFI firmware for arm64, with Secure Boot snakeoil vars
  systemd-boot-efi:arm64   # linuxaa64.efi.stub for arm64 UKIs (Multi-Arch: same)
  libc6:arm64 libuuid1:arm64 libblkid1:arm64 libpopt0:arm64 libcryptsetup12:arm64 # the arm64 test initramfs's cgpt and veritysetup libraries
  swtpm            # a TPM 2.0 for qemu --tpm (measured boot)
  tpm2-tools       # judge of attest: tpm2_checkquote; a second TPM's quote in the attest test
)
# Not installable beside the amd64 ones (no Multi-Arch, or the same paths): extracted under .cache/foreign.
foreign_arm64=(gnu-efi busybox-static cgpt cryptsetup-bin)

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
new_arch=0
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  echo "install-deps: adding the foreign architecture arm64 (dpkg --add-architecture arm64)"
  $SUDO dpkg --add-architecture arm64
  new_arch=1
fi

# apt's candidate versions, as for the installed packages; each is extracted once per version.
extract_foreign() { bash "$(dirname "${BASH_SOURCE[0]}")/foreign-deb.sh" arm64 "${foreign_arm64[@]}" >/dev/null; }

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ] && [ $new_arch -eq 0 ]; then
  extract_foreign
  echo "install-deps: all ${#packages[@]} packages present, ${#foreign_arm64[@]} arm64 packages extracted"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
[ ${#missing[@]} -eq 0 ] || $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
extract_foreign
echo "install-deps: done"
