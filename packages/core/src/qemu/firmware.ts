/**
 * Debian's OVMF builds without Secure Boot: the firmware a qemu_uefi bundle ships and the default of a
 * raw image's boot. The Secure Boot builds are in secure-boot.ts, beside the machine options they need.
 */
export const DEFAULT_OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const DEFAULT_OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
