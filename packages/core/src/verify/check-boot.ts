/**
 * The command lines of the UKIs found on the ESP against the manifest's slots: every root hash a UKI
 * names must be its slot's, and every filled slot must be named by some UKI. Whichever files are UKIs
 * (one per slot behind the selector, or version 1's one for both) is found out by parsing, not assumed. The ESP check has
 * already compared these files' bytes; this proves the manifest's slots are the ones that boot.
 */
import { readUki, type UkiContents } from '../boot/uki.js';
import { BOOT_PHASES, pcr11Record } from '../attest/pcr.js';
import type { ImageManifest } from '../manifest/manifest.js';
import { isLegacyBoot, sha256Buffer, type SlotBootManifest } from '../manifest/manifest.js';
import type { Slot } from '../layout/plan.js';
import { fail, pass, type ImageCheck } from './check.js';
import type { EspFileRead } from './check-esp.js';

const SLOTS: readonly Slot[] = ['A', 'B'];

/** The slots a command line names: `verity.usrhash.A=`, or Flatcar's unsuffixed pair by PARTUUID. */
export function cmdlineSlots(cmdline: string, m: ImageManifest): Partial<Record<Slot, { rootHash: string; partuuid?: string }>> {
  const kv = new Map<string, string>();
  for (const w of cmdline.trim().split(/\s+/)) {
    const i = w.indexOf('=');
    if (i > 0) kv.set(w.slice(0, i), w.slice(i + 1));
  }
  const uuid = (v?: string) => v?.replace(/^PARTUUID=/i, '').toLowerCase();
  const out: Partial<Record<Slot, { rootHash: string; partuuid?: string }>> = {};
  for (const s of SLOTS) {
    const h = kv.get(`verity.usrhash.${s}`);
    if (h) out[s] = { rootHash: h, partuuid: uuid(kv.get(`verity.usr.${s}`)) };
  }
  const h = kv.get('verity.usrhash');
  if (h) {
    const dev = uuid(kv.get('verity.usr'));
    const s = SLOTS.find((x) => m.slots[x]?.partuuid === dev) ?? SLOTS.find((x) => m.partitions.some((p) => p.uuid === dev && p.number === m.slots[x]?.partition));
    if (s && !out[s]) out[s] = { rootHash: h, partuuid: dev };
  }
  return out;
}

function tryUki(data: Buffer): UkiContents | undefined {
  try {
    return readUki(data);
  } catch {
    return undefined; // not a UKI (a bzImage, a grub.cfg, a slot selector without .linux)
  }
}

/** What the manifest's boot section recorded about the UKI at `path`: its command line and payloads. */
function bootRecord(path: string, data: Buffer, uki: UkiContents, m: ImageManifest): ImageCheck[] {
  const out: ImageCheck[] = [];
  const cmp = (name: string, want: string, got: string) => out.push(want === got ? pass('boot', `${path}: ${name}`, 'as built', got) : fail('boot', `${path}: ${name}`, want, got));
  const b = m.boot;
  if (isLegacyBoot(b)) {
    if (path.toUpperCase() !== b.espPath.toUpperCase()) return [];
    cmp('cmdline', b.cmdline, uki.cmdline);
    cmp('.linux sha256', b.kernelSha256, sha256Buffer(uki.kernel));
    cmp('.initrd sha256', b.initrdSha256, sha256Buffer(uki.initrd));
    return out;
  }
  for (const s of SLOTS) {
    const rec = b.slots[s];
    if (!rec || path.toUpperCase() !== rec.uki.toUpperCase()) continue;
    cmp('cmdline', rec.cmdline, uki.cmdline);
    cmp('.linux sha256', rec.kernelSha256, sha256Buffer(uki.kernel));
    cmp('.initrd sha256', rec.initrdSha256, sha256Buffer(uki.initrd));
    // a slot's UKI must boot that slot and no other: the selector starts it for that slot alone
    const own = /(?:^|\s)imgbuild\.slot=([AB])(?=\s|$)/.exec(uki.cmdline)?.[1] ?? null;
    const version = /(?:^|\s)imgbuild\.version=(\S+)/.exec(uki.cmdline)?.[1] ?? null;
    // a versioned slot's UKI names its version (the slot's label), not a slot: it fits either
    if (version !== null && !own) cmp('imgbuild.version', m.slots[s]?.label.slice(m.slots[s]!.label.lastIndexOf('_') + 1) ?? '(no slot)', version);
    else cmp('imgbuild.slot', s, own ?? '(none)');
    if (rec.pcr11) out.push(...checkPcr11(path, data, rec.pcr11));
  }
  return out;
}

/**
 * The recorded PCR 11 predictions against the ones this UKI's sections give (attest/pcr.ts). The ESP
 * check already compared the file's bytes; this proves the recorded values are that file's, so a node
 * whose PCR 11 matches one of them runs this UKI.
 */
function checkPcr11(path: string, data: Buffer, want: NonNullable<SlotBootManifest['pcr11']>): ImageCheck[] {
  const got = pcr11Record(data);
  const name = `${path}: PCR 11 (${got.stub})`;
  const differ = (['stub', 'uki', ...BOOT_PHASES] as const).filter((k) => want[k] !== got[k]);
  if (differ.length === 0) return [pass('boot', name, 'the recorded predictions are this UKI\'s', got.ready)];
  const why = differ.map((k) => `${k === 'uki' ? 'after the stub' : k === 'stub' ? 'stub' : `after ${k}`}: recorded ${want[k]}, the UKI gives ${got[k]}`);
  return [fail('boot', name, want.ready, got.ready, why.join('; '))];
}

export function checkBoot(files: readonly EspFileRead[], m: ImageManifest): ImageCheck[] {
  const out: ImageCheck[] = [];
  const named = new Set<Slot>();
  const inFlux = new Set((m.pending?.espPaths ?? []).map((p) => p.toUpperCase()));
  for (const f of files) {
    if (inFlux.has(f.path.toUpperCase())) continue; // an interrupted update's: reported by the ESP check
    const uki = tryUki(f.data);
    if (!uki) continue;
    const slots = cmdlineSlots(uki.cmdline, m);
    for (const s of SLOTS) {
      const c = slots[s];
      if (!c) continue;
      named.add(s);
      const rec = m.slots[s];
      const name = `${f.path}: slot ${s} root hash`;
      if (!rec) out.push(fail('boot', name, null, c.rootHash, `the command line names slot ${s} (${c.rootHash}), which the manifest records as empty`));
      else if (rec.rootHash !== c.rootHash) out.push(fail('boot', name, rec.rootHash, c.rootHash, `expected ${rec.rootHash} (manifest), found ${c.rootHash} (command line)`));
      else if (c.partuuid && c.partuuid !== rec.partuuid) out.push(fail('boot', `${f.path}: slot ${s} PARTUUID`, rec.partuuid, c.partuuid));
      else out.push(pass('boot', name, 'the command line carries the manifest\'s root hash', c.rootHash));
    }
    out.push(...bootRecord(f.path, f.data, uki, m));
  }
  for (const s of SLOTS) {
    const rec = m.slots[s];
    if (rec && !named.has(s)) out.push(fail('boot', `slot ${s} root hash`, rec.rootHash, null, `no UKI on the ESP names slot ${s}'s root hash`));
  }
  return out;
}
