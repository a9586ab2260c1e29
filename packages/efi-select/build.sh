#!/usr/bin/env bash
# Builds the UEFI slot selector for x86-64 and arm64 (dist/imgbuild-select-x64.efi, -aa64.efi) and its
# host twin (dist/select-host) from the same pure sources. Reproducible: relative paths only, no debug
# info, PE timestamp 0, stripped; two builds, also from another directory, are byte-identical
# (test/reproducible.test.ts).
# Usage: build.sh [OUTDIR]   (default: dist/ beside this script)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/dist}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$here"

pure=(src/gpt.c src/gptprio.c src/attempts.c src/disk.c src/line.c src/selector.c)
warn=(-std=gnu99 -Wall -Wextra -O2)
# Boots that never become healthy before the selector demotes a slot (src/attempts.h; 1-6, default 3).
attempts=${IMGBUILD_BOOT_ATTEMPTS:-3}
[[ $attempts =~ ^[1-6]$ ]] || { echo "build.sh: IMGBUILD_BOOT_ATTEMPTS must be 1-6, got '$attempts'" >&2; exit 2; }
warn+=(-DIMGBUILD_BOOT_ATTEMPTS="$attempts")

# Toolchain and flags as Debian 12's gnu-efi 3.0.15 wants them (no `-target efi-app` in its ld):
# an ELF shared object, then objcopy to PE. crt0 calls efi_main with the SysV ABI, so no
# GNU_EFI_USE_MS_ABI; firmware calls go through uefi_call_wrapper.
common_cflags=(-fpic -ffreestanding -fno-stack-protector -fno-stack-check -fshort-wchar)
pe_sections=(-j .text -j .sdata -j .data -j .dynamic -j .dynsym -j .rel -j .rela -j '.rel.*' -j '.rela.*' -j .reloc)

# What differs between the architectures, all of it (the EFI names x64/aa64 are the ones of
# packages/core/src/arch.ts; the C sources are the same):
# - x64: the host's gcc and gnu-efi; the SysV red zone is off (firmware interrupts use the stack),
#   objcopy writes the PE headers (efi-app-x86_64).
# - aa64: Debian's cross gcc, gnu-efi:arm64 extracted by hack/install-deps.sh (it cannot be installed
#   beside the amd64 one); that gnu-efi's crt0 carries the PE headers itself, so objcopy writes the
#   memory image as it is (-O binary) and the linker fills in the subsystem.
arch_setup() {
  case $1 in
    x64)
      cross='' efi_root=/usr
      arch_cflags=(-mno-red-zone -maccumulate-outgoing-args) arch_ldflags=()
      pe_format=(--strip-all --target efi-app-x86_64 --subsystem=10) gnu_efi_arch=x86_64 ;;
    aa64)
      cross=aarch64-linux-gnu- efi_root=${GNU_EFI_AA64:-$here/../../.cache/foreign/arm64/gnu-efi}/usr
      arch_cflags=() arch_ldflags=(--defsym=EFI_SUBSYSTEM=0xa --no-warn-rwx-segments)
      pe_format=(-O binary) gnu_efi_arch=aarch64 ;;
  esac
  command -v "${cross}gcc" >/dev/null || { echo "build.sh: ${cross}gcc not found (run bash hack/install-deps.sh)" >&2; exit 1; }
  [ -f "$efi_root/lib/crt0-efi-$gnu_efi_arch.o" ] || { echo "build.sh: $efi_root/lib/crt0-efi-$gnu_efi_arch.o not found (run bash hack/install-deps.sh)" >&2; exit 1; }
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

build_efi() { # EFI arch name -> $work/imgbuild-select-<arch>.efi
  local a=$1 src obj objs=()
  arch_setup "$a"
  mkdir -p "$work/$a"
  for src in "${pure[@]}" src/main.c; do
    obj=$work/$a/$(basename "$src" .c).o
    "${cross}gcc" "${warn[@]}" "${common_cflags[@]}" "${arch_cflags[@]}" -I"$efi_root/include/efi" -I"$efi_root/include/efi/$gnu_efi_arch" -c "$src" -o "$obj"
    objs+=("$obj")
  done
  "${cross}ld" -shared -Bsymbolic -nostdlib -znocombreloc "${arch_ldflags[@]}" -T "$efi_root/lib/elf_${gnu_efi_arch}_efi.lds" \
    "$efi_root/lib/crt0-efi-$gnu_efi_arch.o" "${objs[@]}" -o "$work/$a/imgbuild-select.so" -L"$efi_root/lib" -lefi -lgnuefi
  # SOURCE_DATE_EPOCH=0 makes binutils write PE timestamp 0 instead of the build time.
  SOURCE_DATE_EPOCH=0 "${cross}objcopy" "${pe_sections[@]}" "${pe_format[@]}" "$work/$a/imgbuild-select.so" "$work/imgbuild-select-$a.efi"
}

efi_arches=(x64 aa64)
for a in "${efi_arches[@]}"; do build_efi "$a"; done

gcc "${warn[@]}" -o "$work/select-host" test/host.c "${pure[@]}"

# Renamed into place last, so a failed build never leaves a half-written artifact behind.
for a in "${efi_arches[@]}"; do mv -f "$work/imgbuild-select-$a.efi" "$out/imgbuild-select-$a.efi"; done
mv -f "$work/select-host" "$out/select-host"
