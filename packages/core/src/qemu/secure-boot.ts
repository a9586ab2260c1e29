/**
 * Secure Boot under qemu + OVMF: which firmware, which machine options, how to tell a vars file that
 * enforces Secure Boot, and how to see on the console that the firmware refused to start the loader.
 * Pure, except `secureBootVarsFile`, which writes one file.
 */
import { promises as fsp } from 'node:fs';
import { decodeVarStore, EFI_GLOBAL_VARIABLE, encodeVarStore, findVariable, SECURE_BOOT_ENABLE_GUID, VAR_STORE_GEOMETRIES } from '../boot/ovmf-vars.js';
import { secureBootVarStore } from '../boot/secureboot-vars.js';
import { archFacts, DEFAULT_ARCHITECTURE, type Architecture } from '../arch.js';

/** OVMF built with Secure Boot and SMM (its variable store can only be written from SMM). */
export const OVMF_SECBOOT_CODE = archFacts('x86-64').firmware.secureBootCode;
/** Debian's vars with its snakeoil certificate enrolled as PK, KEK and db. */
export const OVMF_SNAKEOIL_VARS = archFacts('x86-64').firmware.snakeoilVars;

/**
 * qemu options the Secure Boot firmware needs: SMM on the machine, and the vars pflash marked secure,
 * so only SMM code can write it (otherwise the OS could rewrite db; OVMF's secboot build refuses to run
 * without it).
 */
export const SECURE_BOOT_MACHINE_SUFFIX = ',smm=on';
export const SECURE_BOOT_QEMU_ARGS = ['-global', 'driver=cfi.pflash01,property=secure,value=on'] as const;

/** Whether a vars file enforces Secure Boot: a PK is enrolled and SecureBootEnable is 1. */
export function varsEnforceSecureBoot(vars: Buffer): boolean {
  try {
    const store = decodeVarStore(vars);
    const enable = findVariable(store, 'SecureBootEnable', SECURE_BOOT_ENABLE_GUID);
    return !!findVariable(store, 'PK', EFI_GLOBAL_VARIABLE) && enable?.data[0] === 1;
  } catch {
    return false; // not a store we can read: treat as the plain firmware's
  }
}

/** Writes a vars file for `arch`'s firmware enrolling `certDer` as PK, KEK and db (timestamps from `time`, reproducible). */
export async function secureBootVarsFile(path: string, certDer: Buffer, time: number, arch: Architecture = DEFAULT_ARCHITECTURE): Promise<void> {
  await fsp.writeFile(path, encodeVarStore(secureBootVarStore({ certDer, time }), VAR_STORE_GEOMETRIES[archFacts(arch).firmware.varStore]));
}

/**
 * The firmware's own line when Secure Boot refused the loader it tried (OVMF's BdsDxe), e.g.
 * `BdsDxe: failed to load Boot0001 "UEFI Misc Device" from PciRoot(0x0)/…: Access Denied`. After it
 * OVMF waits for a key forever, so the harness stops at once. The selector's own "cannot boot: …:
 * Access Denied" lines (a refused UKI, with a fallback) are not this.
 */
export function firmwareRefusal(log: string): string | null {
  const m = /^.*BdsDxe: failed to load .*(Access Denied|Security Violation).*$/m.exec(log);
  return m ? m[0].trim() : null;
}
