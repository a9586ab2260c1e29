/**
 * `imgbuild sign`: signs an existing image's slot selector and UKIs in place and records it in the
 * manifest, as if it had been built with the key. Re-signing with another key replaces the signatures.
 */
import { findEsp } from '../layout/roles.js';
import { promises as fsp } from 'node:fs';
import { basename } from 'node:path';
import { writeFileAtomic } from '../atomic.js';
import { withImageLock } from '../lock.js';
import { loadSigningKey, readEspFile, replaceEspFiles, signPe, ukiEspPath, type SigningKeyFiles } from '../boot/index.js';
import { InputError } from '../errors.js';
import { recordImage } from '../verify/record.js';
import { sourceDateEpochFromEnv } from '../repro.js';
import { digestRecord, imageDigest } from '../verify/image-digest.js';
import { encodeManifest, isLegacyBoot, manifestPathFor, readManifest, sha256Buffer, sha256File, type ImageManifest, type SigningManifest } from '../manifest/manifest.js';
import { findBundle, withRawImage } from '../qemu/bundle.js';

export interface SignImageResult {
  signing: SigningManifest;
  manifest: ImageManifest;
  manifestPath: string;
}

/**
 * Signs an image's selector and UKIs in place. Re-signing with the image's own certificate is
 * refreshing; with another one it changes which firmware will boot the image (a machine that enrolled
 * the old certificate refuses it), so it needs `force`, as `update` refuses another certificate.
 */
export async function signImage(o: { image: string; sign: SigningKeyFiles; force?: boolean }): Promise<SignImageResult> {
  const st = await fsp.stat(o.image).catch(() => {
    throw new InputError('no such image', { file: o.image });
  });
  const key = await loadSigningKey(o.sign);
  return withImageLock(o.image, async () => {
    const manifestPath = st.isDirectory() ? (await findBundle(o.image)).manifest : manifestPathFor(o.image);
    const manifest = await readManifest(manifestPath);
    const boot = manifest.boot;
    if (isLegacyBoot(boot)) throw new InputError('this image was built before the slot selector; rebuild it to sign it', { file: o.image });
    const was = boot.signing?.certSha256;
    if (was && was !== key.certSha256 && !o.force) {
      throw new InputError(
        `is signed with another certificate (sha256 ${was.slice(0, 16)}…; this one is ${key.certSha256.slice(0, 16)}…): re-signing changes which machines boot it (those that enrolled the old one refuse it); give --force to re-sign`,
        { file: o.image },
      );
    }
    const esp = findEsp(manifest.partitions, manifestPath);
    if (!esp) throw new InputError('manifest names no ESP', { file: manifestPath });
    const sde = manifest.sourceDateEpoch ?? sourceDateEpochFromEnv();
    await withRawImage(o.image, true, async (raw) => {
      const espOffset = esp.firstLba * manifest.disk.sectorSize;
      const paths = [boot.selector.path, ...(['A', 'B'] as const).filter((s) => boot.slots[s]).map(ukiEspPath)];
      const files: Array<{ path: string; data: Buffer }> = [];
      for (const path of paths) files.push({ path, data: await signPe(await readEspFile(raw, espOffset, path), key, sde, path) });
      await replaceEspFiles(raw, espOffset, files, sde);
      const digest = (p: string) => sha256Buffer(files.find((f) => f.path === p)!.data);
      boot.selector.sha256 = digest(boot.selector.path);
      for (const s of ['A', 'B'] as const) if (boot.slots[s]) boot.slots[s]!.sha256 = digest(ukiEspPath(s));
      boot.signing = { certSha256: key.certSha256, files: paths.map((path) => ({ path, sha256: digest(path) })) };
      Object.assign(manifest, await recordImage(raw, { sectorSize: manifest.disk.sectorSize, roleOf: (n) => manifest.partitions.find((p) => p.number === n)?.role ?? 'unknown' }));
      // The identity digest always; the plain sha256 only where the manifest already kept one.
      const keepSha = !!manifest.image.sha256;
      manifest.image = { ...manifest.image, sha256: keepSha ? await sha256File(raw) : null, digest: digestRecord(await imageDigest(raw)) };
    });
    if (st.isDirectory()) {
      const b = await findBundle(o.image);
      manifest.image.qcow2 = { name: basename(b.qcow2), sha256: await sha256File(b.qcow2) };
    }
    await writeFileAtomic(manifestPath, encodeManifest(manifest));
    return { signing: boot.signing!, manifest, manifestPath };
  });
}
