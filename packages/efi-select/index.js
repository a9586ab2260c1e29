// Where the built selector lives, and the UKI path convention it follows. Built by build.sh.
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('./dist/', import.meta.url));

/**
 * The UEFI application for one architecture, by its EFI name (`x64`, `aa64`: the `efi` of
 * @imgbuild/core's architecture table), to install as EFI/BOOT/BOOT<X64|AA64>.EFI.
 */
export function selectorEfiPath(efiArch = 'x64') {
  if (!SELECTOR_EFI_ARCHES.includes(efiArch)) throw new Error(`no selector is built for the EFI architecture ${JSON.stringify(efiArch)}`);
  return dist + `imgbuild-select-${efiArch}.efi`;
}

/** The EFI architectures build.sh builds the selector for. */
export const SELECTOR_EFI_ARCHES = Object.freeze(['x64', 'aa64']);

/** The same selection code built for the host: `select-host IMAGE [--write] [--fail A|B]`, `--states IMAGE`. */
export function hostSelectPath() {
  return dist + 'select-host';
}

/** Slot X boots `\EFI\Linux\imgbuild-usr-x.efi` (lowercase letter) on the selector's own ESP. */
export const UKI_PATHS = Object.freeze({
  A: '\\EFI\\Linux\\imgbuild-usr-a.efi',
  B: '\\EFI\\Linux\\imgbuild-usr-b.efi',
});

/** The same paths inside the ESP as mtools and FAT writers name them. */
export const UKI_ESP_PATHS = Object.freeze({
  A: 'EFI/Linux/imgbuild-usr-a.efi',
  B: 'EFI/Linux/imgbuild-usr-b.efi',
});

/** Where the selector itself is installed on an x86-64 image's ESP (@imgbuild/core's table has every architecture's). */
export const SELECTOR_ESP_PATH = 'EFI/BOOT/BOOTX64.EFI';

/** The prefix of every console line the selector prints. */
export const CONSOLE_PREFIX = 'imgbuild-select: ';
