/**
 * One image, one machine: every EFI binary on the ESP (the selector, each UKI) and each UKI's kernel
 * must be for the architecture the manifest records, the selector must sit at that architecture's
 * removable-media path, and no partition may carry another architecture's UAPI type. A manifest of
 * another architecture's image, or an ESP file swapped for another machine's, fails here by name
 * rather than as an unexplained hash mismatch.
 */
import { archFacts, archOfPartitionType, archOfPeMachine } from '../arch.js';
import { decodePe } from '../boot/pe.js';
import { kernelInfo } from '../boot/kernel.js';
import { readUki } from '../boot/uki.js';
import { manifestArchitecture, type ImageManifest } from '../manifest/manifest.js';
import { isLegacyBoot } from '../manifest/manifest.js';
import { typeName } from '../gpt/types.js';
import { fail, pass, type ImageCheck } from './check.js';
import type { EspFileRead } from './check-esp.js';

const REGION = 'architecture';

function peMachine(data: Buffer): number | undefined {
  try {
    return decodePe(data).machine;
  } catch {
    return undefined; // not a PE (grub.cfg, Flatcar's kernel copies are checked as kernels elsewhere)
  }
}

function ukiKernel(data: Buffer): Buffer | undefined {
  try {
    return readUki(data).kernel;
  } catch {
    return undefined;
  }
}

export function checkArchitecture(files: readonly EspFileRead[], partitions: ReadonlyArray<{ number: number; label: string; type: string }>, m: ImageManifest): ImageCheck[] {
  const arch = manifestArchitecture(m);
  const facts = archFacts(arch);
  const out: ImageCheck[] = [];
  if (!isLegacyBoot(m.boot)) {
    const at = m.boot.selector.path;
    out.push(at.toUpperCase() === facts.selectorEspPath ? pass(REGION, 'selector path', `${at}, the ${arch} removable-media path`, arch) : fail(REGION, 'selector path', facts.selectorEspPath, at));
  }
  for (const f of files) {
    const machine = peMachine(f.data);
    if (machine === undefined) continue;
    const own = archOfPeMachine(machine) ?? `PE machine 0x${machine.toString(16)}`;
    out.push(own === arch ? pass(REGION, f.path, `an ${arch} EFI binary`, arch) : fail(REGION, f.path, arch, own, `the manifest says ${arch}, this EFI binary is for ${own}`));
    const kernel = ukiKernel(f.data);
    if (!kernel) continue;
    const k = kernelInfo(kernel)?.arch ?? 'not a kernel';
    out.push(k === arch ? pass(REGION, `${f.path}: .linux`, `an ${arch} kernel`, arch) : fail(REGION, `${f.path}: .linux`, arch, k, `the manifest says ${arch}, the UKI's kernel is ${k}`));
  }
  for (const p of partitions) {
    const own = archOfPartitionType(p.type);
    if (own && own !== arch) out.push(fail(REGION, `partition ${p.number} (${p.label}) type`, arch, own, `${typeName(p.type) ?? p.type} is an ${own} type; the image is ${arch}`));
  }
  return out;
}
