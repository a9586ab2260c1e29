/**
 * Debian's OVMF builds without Secure Boot: the firmware a qemu_uefi bundle ships and the default of a
 * raw image's boot. The Secure Boot builds are in secure-boot.ts, beside the machine options they need.
 */
import { archFacts } from '../arch.js';

export const DEFAULT_OVMF_CODE = archFacts('x86-64').firmware.code;
export const DEFAULT_OVMF_VARS = archFacts('x86-64').firmware.vars;
