/**
 * Which machine boots an image: its architecture, read from the image's manifest or, without one, from
 * the ESP (which removable-media loader it holds), and the qemu machine and UEFI firmware the
 * architecture table names for it. run.ts asks here and stays architecture-blind.
 */
import { extname } from 'node:path';
import { archFacts, archOfSelectorPath, DEFAULT_ARCHITECTURE, type Architecture } from '../arch.js';
import { listEsp } from '../boot/esp.js';
import { readGpt } from '../gpt/io.js';
import { TYPE_ALIASES } from '../gpt/types.js';
import { manifestArchitecture, manifestPathFor, readManifest } from '../manifest/manifest.js';
import { FileStorage } from '../storage.js';

export interface ArchitectureFound {
  arch: Architecture;
  /** Where it was read: the manifest's `architecture`, the ESP's loader, or nothing (the default). */
  from: 'manifest' | 'esp' | 'default';
}

/** The architecture of a raw image or a qemu_uefi bundle (`manifest`: the bundle's manifest file). */
export async function imageArchitecture(image: string, manifest?: string): Promise<ArchitectureFound> {
  const m = await readManifest(manifest ?? manifestPathFor(image)).catch(() => undefined);
  if (m) return { arch: manifestArchitecture(m), from: 'manifest' };
  if (extname(image).toLowerCase() === '.qcow2') return { arch: DEFAULT_ARCHITECTURE, from: 'default' };
  const onEsp = await espArchitecture(image).catch(() => undefined);
  return onEsp ? { arch: onEsp, from: 'esp' } : { arch: DEFAULT_ARCHITECTURE, from: 'default' };
}

/** The architecture whose removable-media loader (EFI/BOOT/BOOT<ARCH>.EFI) the raw image's ESP holds. */
export async function espArchitecture(image: string): Promise<Architecture | undefined> {
  const st = await FileStorage.open(image);
  let espOffset: number | undefined;
  try {
    const { table } = await readGpt(st);
    const esp = table.entries.find((e) => e.type === TYPE_ALIASES.efi);
    if (esp) espOffset = esp.firstLba * table.sectorSize;
  } finally {
    await st.close();
  }
  if (espOffset === undefined) return undefined;
  const found = new Set((await listEsp(image, espOffset)).map((e) => archOfSelectorPath(e.path)).filter((a): a is Architecture => !!a));
  return found.size === 1 ? [...found][0] : undefined;
}

/** `-machine ...` and the architecture's other machine arguments for one boot. */
export function machineArgs(arch: Architecture, accel: string, secureBoot: boolean): string[] {
  const q = archFacts(arch).qemu;
  const extra = secureBoot && q.secureBootMachineOptions ? `,${q.secureBootMachineOptions}` : '';
  return ['-machine', `${q.machine},accel=${accel}${extra}`, ...(secureBoot ? q.secureBootArgs : []), ...q.args];
}

/** The firmware code and vars template of the architecture (its Secure Boot build and snakeoil vars when asked). */
export function firmwareFiles(arch: Architecture, secureBoot: boolean): { code: string; vars: string } {
  const f = archFacts(arch).firmware;
  return secureBoot ? { code: f.secureBootCode, vars: f.snakeoilVars } : { code: f.code, vars: f.vars };
}

/** The qemu binary and the Debian package to install when it is missing. */
export function qemuBinary(arch: Architecture): { binary: string; package: string } {
  return { binary: archFacts(arch).qemu.binary, package: archFacts(arch).qemu.package };
}

/** Every architecture's firmware package, for messages. */
export function firmwarePackage(arch: Architecture): string {
  return archFacts(arch).firmware.package;
}
