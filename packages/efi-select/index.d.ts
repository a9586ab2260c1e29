/** The UEFI application for an EFI architecture (`x64` by default, `aa64`), absolute path. */
export declare function selectorEfiPath(efiArch?: string): string;
/** The EFI architectures the selector is built for. */
export declare const SELECTOR_EFI_ARCHES: readonly string[];
/** The host build of the same selection code (absolute path). */
export declare function hostSelectPath(): string;
/** Firmware paths of each slot's UKI on the selector's ESP (backslashes, as the firmware takes them). */
export declare const UKI_PATHS: Readonly<{ A: string; B: string }>;
/** The same paths inside the ESP, forward slashes (mtools, FAT writers). */
export declare const UKI_ESP_PATHS: Readonly<{ A: string; B: string }>;
/** Where the selector is installed on an x86-64 image's ESP. */
export declare const SELECTOR_ESP_PATH: string;
/** The prefix of every console line the selector prints. */
export declare const CONSOLE_PREFIX: string;
