/**
 * `imgbuild verify`: proves that every byte that must not change after the build is as the manifest
 * recorded it, one region at a time (protective MBR, both GPT copies, each slot through dm-verity and
 * its superblock, every ESP file, the UKIs' command lines, reserved partitions, unallocated space).
 * The only bytes allowed to differ are the USR slots' boot bits, reported as state, and the writable
 * partitions, reported as not covered. The whole-image digest is information only.
 */
import { promises as fsp } from 'node:fs';
import type { X509Certificate } from 'node:crypto';
import { readCertificate } from '../boot/sign.js';
import { aboutFile } from '../errors.js';
import type { Slot } from '../layout/plan.js';
import type { ProgressFn } from '../progress.js';
import { checkArchitecture, checkBoot, checkSignatures, checkDiskSize, checkEsp, checkGptCopy, checkProtectiveMbr, checkReserved, checkSlot, pendingBootCheck, checkUnallocated, info, listWritable, type ImageCheck } from './index.js';
import { manifestPathFor, readManifest, sha256File, type ImageManifest } from '../manifest/manifest.js';
import { findBundle, withRawImage } from '../qemu/bundle.js';
import { ImageDigester, sealedTreeOf } from './image-digest.js';
import { readFeedManifest, withFeedVersions } from './feed.js';

export type { ImageCheck } from './index.js';

/**
 * What {@link verifyImage} found: every check, and whether all passed.
 *
 * @example
 * ```ts
 * const v: VerifyImageResult = await verifyImage({ image: 'disk.raw' });
 * if (!v.ok) for (const c of v.checks.filter((c) => !c.ok)) console.error(formatCheck(c));
 * ```
 */
export interface VerifyImageResult {
  ok: boolean;
  checks: ImageCheck[];
  /** Whether the image is still bit-identical to the build or last update (information only). */
  imageUnchanged: boolean;
  manifest: ImageManifest;
  manifestPath: string;
}

/**
 * Options of {@link verifyImage}.
 *
 * @example
 * ```ts
 * await verifyImage({ image: 'disk.raw', cert: 'db.crt', jobs: 2 });
 * ```
 */
export interface VerifyOptions {
  /** Check the signatures against this certificate (PEM/DER file) instead of the manifest's fingerprint. */
  cert?: string;
  /** Feed manifests (imgbuild publish) of versions installed on the node: their slots are checked against them. */
  feedManifests?: string[];
  jobs?: number;
  onProgress?: ProgressFn;
}

/**
 * Checks an image (a raw file or a qemu_uefi bundle folder) against its manifest, region by region:
 * the protective MBR, both GPT copies, each slot's data against its verity tree, the ESP's files and
 * signatures. A changed byte is a failed check (`ok: false`), not an error; errors are for what stops the
 * check (no image, no manifest, a missing tool).
 *
 * @example
 * ```ts
 * import { formatCheck, verifyImage } from '@imgbuild/core';
 *
 * const v = await verifyImage({ image: 'disk.raw' });
 * console.log(v.ok ? 'image verified' : v.checks.filter((c) => !c.ok).map(formatCheck).join('\n'));
 * ```
 */
export async function verifyImage(o: { image: string; manifestPath?: string } & VerifyOptions): Promise<VerifyImageResult> {
  try {
    const st = await fsp.stat(o.image);
    if (!st.isDirectory()) return await verifyRaw(o.image, o.manifestPath ?? manifestPathFor(o.image), o);
    const bundle = await findBundle(o.image);
    return await withRawImage(o.image, false, (raw) => verifyRaw(raw, o.manifestPath ?? bundle.manifest, o));
  } catch (e) {
    throw aboutFile(e, o.image); // a system error in words, naming the image (an error naming its own file keeps it)
  }
}

/** Every region's checks, in disk order; each function reads only its own region. */
export async function imageChecks(image: string, m: ImageManifest, o: VerifyOptions & { trusted?: X509Certificate } = {}): Promise<ImageCheck[]> {
  const checks: ImageCheck[] = [];
  checks.push(...(await checkDiskSize(image, m)), ...(await checkProtectiveMbr(image, m)));
  const primary = await checkGptCopy(image, m, 'primary');
  checks.push(...primary.checks, ...(await checkGptCopy(image, m, 'backup', primary.entries)).checks, ...pendingBootCheck(m, primary.entries));
  for (const s of ['A', 'B'] as Slot[]) {
    checks.push(...(await checkSlot(image, m, s, { jobs: o.jobs, onProgress: o.onProgress ? (d, t) => o.onProgress!(d, t, `verify ${s}`) : undefined })));
  }
  const esp = await checkEsp(image, m);
  checks.push(...esp.checks, ...checkBoot(esp.files, m), ...checkArchitecture(esp.files, m.partitions, m), ...checkSignatures(esp.files, m, o.trusted));
  checks.push(...(await checkReserved(image, m)), ...(await checkUnallocated(image, m)), ...listWritable(m));
  return checks;
}

async function verifyRaw(image: string, manifestPath: string, o: VerifyOptions): Promise<VerifyImageResult> {
  let m = await readManifest(manifestPath);
  if (o.feedManifests?.length) {
    const feeds = await Promise.all(o.feedManifests.map(readFeedManifest));
    m = (await withFeedVersions(image, m, feeds)).manifest;
  }
  const trusted = o.cert ? await readCertificate(o.cert) : undefined;
  const checks = await imageChecks(image, m, { ...o, trusted });
  // A slot whose every check passed has been read and found to match its tree: the digest takes its
  // data from the tree's leaf level instead of reading it again.
  const proven = (['A', 'B'] as Slot[]).filter((s) => m.slots[s] && checks.every((c) => c.region !== `slot ${s}` || c.ok));
  const identity = await identityCheck(image, m, proven, o);
  checks.push(identity.check);
  const imageUnchanged = identity.unchanged;
  return { ok: checks.every((c) => c.ok), checks, imageUnchanged, manifest: m, manifestPath };
}

const DIFFERS = 'differs from the build or last update (boot bits and writable partitions may change; the checks above decide)';

/**
 * "Bit-identical to the build or last update", information only: by the manifest's identity digest
 * (the dm-verity root hash of the whole image, computed over its data extents only), or, for a
 * manifest from before it, by the plain sha256 of every byte.
 */
async function identityCheck(image: string, m: ImageManifest, proven: Slot[], o: VerifyOptions): Promise<{ check: ImageCheck; unchanged: boolean }> {
  if (m.image.digest) {
    const digester = new ImageDigester(image, { jobs: o.jobs, onProgress: o.onProgress });
    for (const s of proven) {
      const part = m.partitions.find((p) => p.number === m.slots[s]!.partition)!;
      digester.slot(part.firstLba * m.disk.sectorSize, (part.lastLba - part.firstLba + 1) * m.disk.sectorSize, sealedTreeOf(m.slots[s]!));
    }
    const d = await digester.finish();
    const unchanged = d.rootHash === m.image.digest.rootHash && d.dataBlocks === m.image.digest.dataBlocks;
    const how = `${d.algorithm}, ${d.extentsFrom === 'fiemap' ? `${d.bytesHashed} bytes of data read, holes known zero (FIEMAP)` : `the whole file read`}`;
    return { unchanged, check: info('image', 'digest', `${unchanged ? 'bit-identical to the build or last update' : DIFFERS} (${how})`, d.rootHash) };
  }
  if (m.image.sha256) {
    const sha = await sha256File(image);
    const unchanged = sha === m.image.sha256;
    return { unchanged, check: info('image', 'sha256', unchanged ? 'bit-identical to the build or last update' : DIFFERS, sha) };
  }
  return { unchanged: false, check: info('image', 'digest', 'the manifest records no whole-image digest') };
}
