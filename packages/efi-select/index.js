// Where the built selector lives, and the UKI path convention it follows. Built by build.sh.
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('./dist/', import.meta.url));

/** The UEFI application, to install as EFI/BOOT/BOOTX64.EFI. */
export function selectorEfiPath() {
  return dist + 'imgbuild-select.efi';
}

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

/** Where the selector itself is installed on the ESP. */
export const SELECTOR_ESP_PATH = 'EFI/BOOT/BOOTX64.EFI';

/** The prefix of every console line the selector prints. */
export const CONSOLE_PREFIX = 'imgbuild-select: ';
