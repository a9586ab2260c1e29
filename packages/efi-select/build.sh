#!/usr/bin/env bash
# Builds the UEFI slot selector (dist/imgbuild-select.efi) and its host twin (dist/select-host) from
# the same pure sources. Reproducible: relative paths only, no debug info, PE timestamp 0, stripped;
# two builds, also from another directory, are byte-identical (test/reproducible.test.ts).
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
efi_inc=(-I/usr/include/efi -I/usr/include/efi/x86_64)
efi_cflags=(-fpic -ffreestanding -fno-stack-protector -fno-stack-check -fshort-wchar -mno-red-zone
  -maccumulate-outgoing-args)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

objs=()
for src in "${pure[@]}" src/main.c; do
  obj=$work/$(basename "$src" .c).o
  gcc "${warn[@]}" "${efi_cflags[@]}" "${efi_inc[@]}" -c "$src" -o "$obj"
  objs+=("$obj")
done
ld -shared -Bsymbolic -nostdlib -znocombreloc -T /usr/lib/elf_x86_64_efi.lds \
  /usr/lib/crt0-efi-x86_64.o "${objs[@]}" -o "$work/imgbuild-select.so" -L/usr/lib -lefi -lgnuefi
# SOURCE_DATE_EPOCH=0 makes binutils write PE timestamp 0 instead of the build time.
SOURCE_DATE_EPOCH=0 objcopy -j .text -j .sdata -j .data -j .dynamic -j .dynsym -j .rel -j .rela \
  -j '.rel.*' -j '.rela.*' -j .reloc --strip-all --target efi-app-x86_64 --subsystem=10 \
  "$work/imgbuild-select.so" "$work/imgbuild-select.efi"

gcc "${warn[@]}" -o "$work/select-host" test/host.c "${pure[@]}"

# Renamed into place last, so a failed build never leaves a half-written artifact behind.
mv -f "$work/imgbuild-select.efi" "$out/imgbuild-select.efi"
mv -f "$work/select-host" "$out/select-host"
