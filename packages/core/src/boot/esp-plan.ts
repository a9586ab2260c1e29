/**
 * What goes where on the ESP. The firmware starts the slot selector at the removable-media path; the
 * selector picks a slot from the GPT bits and starts that slot's own UKI, so a kernel or initrd that
 * fails to boot is rolled back with its /usr. The UKI file names are the selector's convention
 * (packages/efi-select), read from there so they are written down once.
 */
import { UKI_ESP_PATHS } from '@imgbuild/efi-select';
import { archFacts, DEFAULT_ARCHITECTURE, type Architecture } from '../arch.js';
import type { Slot } from '../layout/plan.js';
import type { EspFile } from './esp.js';

/** Where the firmware finds the selector: the removable-media path every UEFI firmware of `arch` starts. */
export function selectorEspPath(arch: Architecture = DEFAULT_ARCHITECTURE): string {
  return archFacts(arch).selectorEspPath;
}
/** The x86-64 one, `EFI/BOOT/BOOTX64.EFI`. */
export const SELECTOR_ESP_PATH = selectorEspPath('x86-64');

/** The ESP path of slot `slot`'s UKI, e.g. `EFI/Linux/imgbuild-usr-a.efi`. */
export function ukiEspPath(slot: Slot): string {
  return UKI_ESP_PATHS[slot];
}

export interface EspPlan {
  /** The machine it boots on (where the selector goes); default x86-64. */
  arch?: Architecture;
  selector: Buffer;
  /** One UKI per filled slot. */
  ukis: Partial<Record<Slot, Buffer>>;
  /** Where a slot's UKI goes when not at ukiEspPath(slot): a versioned slot's, named after its label. */
  ukiPaths?: Partial<Record<Slot, string>>;
  /** Files for other boot styles (Flatcar's GRUB), written as they are. */
  extra?: EspFile[];
}

/** Where the plan puts slot `s`'s UKI. */
export function planUkiPath(plan: Pick<EspPlan, 'ukiPaths'>, s: Slot): string {
  return plan.ukiPaths?.[s] ?? ukiEspPath(s);
}

/** The ESP's files, in a fixed order (the FAT's directory order follows it). */
export function espPlanFiles(plan: EspPlan): EspFile[] {
  const files: EspFile[] = [{ path: selectorEspPath(plan.arch), data: plan.selector }];
  for (const s of ['A', 'B'] as Slot[]) {
    const uki = plan.ukis[s];
    if (uki) files.push({ path: planUkiPath(plan, s), data: uki });
  }
  return [...files, ...(plan.extra ?? [])];
}

/**
 * The plan with every file the firmware or the selector starts signed: the selector and each slot's
 * UKI. Flatcar's GRUB files (`extra`) are not PE images the firmware checks and stay as they are.
 */
export async function signEspPlan(plan: EspPlan, sign: (data: Buffer, path: string) => Promise<Buffer>): Promise<EspPlan> {
  const ukis: Partial<Record<Slot, Buffer>> = {};
  for (const s of ['A', 'B'] as Slot[]) {
    const uki = plan.ukis[s];
    if (uki) ukis[s] = await sign(uki, planUkiPath(plan, s));
  }
  return { arch: plan.arch, selector: await sign(plan.selector, selectorEspPath(plan.arch)), ukis, ukiPaths: plan.ukiPaths, extra: plan.extra };
}

/** The ESP paths `signEspPlan` signs, in the ESP's order. */
export function signedEspPaths(plan: EspPlan): string[] {
  return [selectorEspPath(plan.arch), ...(['A', 'B'] as Slot[]).filter((s) => plan.ukis[s]).map((s) => planUkiPath(plan, s))];
}
