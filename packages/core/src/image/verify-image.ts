/**
 * `imgbuild verify`: proves an image holds exactly what its manifest says was built. Every filled
 * slot's bytes are checked through its dm-verity tree against the manifest's root hash, the GPT
 * against the manifest's GUIDs and geometry, and the UKI's command line and payloads against the
 * manifest's hashes. The whole-image sha256 is reported but not required: booting changes the slot
 * bits (tries, successful) by design.
 */
import { promises as fsp } from 'node:fs';
import { readEspFile, readUki } from '../boot/index.js';
import { readGpt } from '../gpt/io.js';
import { partitions } from '../gpt/table.js';
import type { Slot } from '../layout/plan.js';
import type { ProgressFn } from '../progress.js';
import { FileStorage } from '../storage.js';
import { verifyVerity } from '../verity/index.js';
import { parseCmdline } from '../boot/cmdline.js';
import { manifestPathFor, readManifest, sha256Buffer, sha256File, type ImageManifest } from './manifest.js';
import { findBundle, withRawImage } from './qemu-bundle.js';

export interface ImageCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface VerifyImageResult {
  ok: boolean;
  checks: ImageCheck[];
  /** Whether the image is still bit-identical to the build (false once it has booted). */
  imageUnchanged: boolean;
  manifest: ImageManifest;
  manifestPath: string;
}

export async function verifyImage(o: { image: string; manifestPath?: string; jobs?: number; onProgress?: ProgressFn }): Promise<VerifyImageResult> {
  const st = await fsp.stat(o.image);
  if (!st.isDirectory()) return verifyRaw(o.image, o.manifestPath ?? manifestPathFor(o.image), o);
  const bundle = await findBundle(o.image);
  return withRawImage(o.image, false, (raw) => verifyRaw(raw, o.manifestPath ?? bundle.manifest, o));
}

async function verifyRaw(image: string, manifestPath: string, o: { jobs?: number; onProgress?: ProgressFn }): Promise<VerifyImageResult> {
  const m = await readManifest(manifestPath);
  const checks: ImageCheck[] = [];
  const check = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });

  const disk = await FileStorage.open(image);
  let table;
  try {
    const r = await readGpt(disk);
    table = r.table;
    check('gpt', !r.needsRepair, r.needsRepair ? `needs repair: ${[r.primaryError, r.backupError].filter(Boolean).join('; ')}` : 'both copies valid');
  } finally {
    await disk.close();
  }
  const parts = partitions(table);
  const layoutOk =
    table.diskGuid === m.disk.guid &&
    m.partitions.every((p) => parts.some((q) => q.number === p.number && q.uuid === p.uuid && q.firstLba === p.startLba && q.name === p.label));
  check('layout', layoutOk, layoutOk ? `disk ${m.disk.guid}, ${m.partitions.length} partitions as built` : 'disk GUID or partitions differ from the manifest');

  for (const s of ['A', 'B'] as Slot[]) {
    const slot = m.slots[s];
    if (!slot) continue;
    const p = parts.find((q) => q.number === slot.partition);
    if (!p) {
      check(`slot ${s}`, false, `partition ${slot.partition} is missing`);
      continue;
    }
    const start = p.firstLba * table.sectorSize;
    const v = await verifyVerity({
      dataPath: image,
      dataOffset: start,
      hashOffset: start + slot.hashOffset,
      rootHash: slot.rootHash,
      jobs: o.jobs,
      onProgress: o.onProgress ? (d, t) => o.onProgress!(d, t, `verify ${s}`) : undefined,
    });
    check(`slot ${s}`, v.ok, v.ok ? `${slot.label}: ${v.dataBlocks} data blocks match root hash ${slot.rootHash}` : `${slot.label}: ${v.message}`);
  }

  const esp = m.partitions.find((p) => p.role === 'esp')!;
  for (const s of ['A', 'B'] as Slot[]) {
    const b = m.boot.slots[s];
    if (!b) continue;
    try {
      const bytes = await readEspFile(image, esp.startLba * table.sectorSize, b.uki);
      const uki = readUki(bytes);
      const cmd = parseCmdline(uki.cmdline);
      const cmdOk = uki.cmdline === b.cmdline && cmd.rootHash === m.slots[s]?.rootHash;
      check(`cmdline ${s}`, cmdOk, cmdOk ? `${b.uki} carries slot ${s}'s root hash` : `${b.uki}: command line expected ${b.cmdline}, found ${uki.cmdline}`);
      const fileOk = sha256Buffer(bytes) === b.sha256;
      check(`uki ${s}`, fileOk, fileOk ? `${b.uki} matches the manifest` : `${b.uki}: sha256 expected ${b.sha256}, found ${sha256Buffer(bytes)}`);
    } catch (e) {
      check(`uki ${s}`, false, `cannot read ${b.uki}: ${(e as Error).message}`);
    }
  }
  const imageUnchanged = (await sha256File(image)) === m.image.sha256;
  return { ok: checks.every((c) => c.ok), checks, imageUnchanged, manifest: m, manifestPath };
}
