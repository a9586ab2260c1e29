/**
 * The kernel command line that carries each filled slot's root hash next to its partition.
 *
 *   mount.usr=/dev/mapper/usr mount.usrflags=ro verity.usrhashoffset=<bytes>
 *   verity.usr.A=PARTUUID=<uuid> verity.usrhash.A=<hex>      (for every filled slot)
 *   verity.usr=PARTUUID=<uuid> verity.usrhash=<hex>          (Flatcar's names, when one slot is filled)
 *
 * The hash offset is a property of the layout (the slot's data area size), so both slots share it
 * and an update never moves it. Keeping both slots' hashes on one command line lets the initramfs,
 * which picks the slot from the GPT bits, find the hash of whichever slot it picked.
 */
import { UsageError } from '../errors.js';
import type { Slot } from '../layout/plan.js';

export interface SlotHash {
  partuuid: string;
  rootHash: string;
}

export interface BootCmdline {
  slots: Partial<Record<Slot, SlotHash>>;
  hashOffset: number;
  /** Everything else on the line, in order. */
  extra: string[];
}

export const DEFAULT_CONSOLE_ARGS = ['console=ttyS0,115200n8', 'panic=-1'];

const OURS = /^(mount\.usr|mount\.usrflags|verity\.usrhashoffset|verity\.usr|verity\.usrhash|verity\.usr\.[AB]|verity\.usrhash\.[AB])=/;

export function formatCmdline(c: BootCmdline): string {
  const parts = ['mount.usr=/dev/mapper/usr', 'mount.usrflags=ro', `verity.usrhashoffset=${c.hashOffset}`];
  const filled = (['A', 'B'] as Slot[]).filter((s) => c.slots[s]);
  for (const s of filled) {
    const h = c.slots[s]!;
    if (!/^[0-9a-f]+$/.test(h.rootHash)) throw new UsageError(`slot ${s}: root hash must be lowercase hex`);
    parts.push(`verity.usr.${s}=PARTUUID=${h.partuuid}`, `verity.usrhash.${s}=${h.rootHash}`);
  }
  if (filled.length === 1) {
    const h = c.slots[filled[0]]!;
    parts.push(`verity.usr=PARTUUID=${h.partuuid}`, `verity.usrhash=${h.rootHash}`);
  }
  return [...parts, ...c.extra].join(' ');
}

export function parseCmdline(line: string): BootCmdline {
  const words = line.trim().split(/\s+/).filter(Boolean);
  const kv = new Map<string, string>();
  const extra: string[] = [];
  for (const w of words) {
    if (OURS.test(w)) {
      const i = w.indexOf('=');
      kv.set(w.slice(0, i), w.slice(i + 1));
    } else extra.push(w);
  }
  const slots: BootCmdline['slots'] = {};
  for (const s of ['A', 'B'] as Slot[]) {
    const dev = kv.get(`verity.usr.${s}`);
    const hash = kv.get(`verity.usrhash.${s}`);
    if (dev && hash) slots[s] = { partuuid: dev.replace(/^PARTUUID=/i, '').toLowerCase(), rootHash: hash };
  }
  return { slots, hashOffset: Number(kv.get('verity.usrhashoffset') ?? NaN), extra };
}
