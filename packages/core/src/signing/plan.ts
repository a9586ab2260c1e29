/**
 * Signing as build and update use it: an ESP plan with its selector and UKIs signed, and the
 * manifest's record of it (`boot.signing`: the certificate's fingerprint and every signed file's
 * digest, or null for an unsigned image).
 */
import { planUkiPath, selectorEspPath, signedEspPaths, signEspPlan, type EspPlan } from '../boot/esp-plan.js';
import { loadSigningKey, signPe, type SigningKey, type SigningKeyFiles } from '../boot/sign.js';
import { InputError } from '../errors.js';
import type { SigningManifest } from '../manifest/schema.js';
import { sha256Buffer } from '../manifest/manifest.js';

/** The plan as it goes on the ESP: signed when there is a key, as is otherwise. */
export async function signedPlan(plan: EspPlan, key: SigningKey | undefined, time: number): Promise<EspPlan> {
  if (!key) return plan;
  return signEspPlan(plan, (data, path) => signPe(data, key, time, path));
}

/** What the manifest records for a (signed) plan; null when unsigned. */
export function signingRecord(plan: EspPlan, key: SigningKey | undefined): SigningManifest | null {
  if (!key) return null;
  const data = (path: string) => (path === selectorEspPath(plan.arch) ? plan.selector : plan.ukis[path === planUkiPath(plan, 'A') ? 'A' : 'B']!);
  return { certSha256: key.certSha256, files: signedEspPaths(plan).map((path) => ({ path, sha256: sha256Buffer(data(path)) })) };
}

export interface UpdateSigner {
  sign(pe: Buffer, path: string, time: number): Promise<Buffer>;
  /** The manifest's signing record with `path` (re)signed. */
  record(before: SigningManifest | null | undefined, path: string, data: Buffer): SigningManifest | null | undefined;
}

/**
 * How `update` signs the new slot's UKI. A signed image needs its own key (an unsigned UKI would be
 * refused by the firmware and the update would silently never boot); an unsigned image takes no key
 * (its selector is unsigned, so signing one UKI would not make it boot under Secure Boot: `imgbuild
 * sign` signs the whole image).
 */
export async function updateSigner(signing: SigningManifest | null | undefined, files: SigningKeyFiles | undefined, image: string): Promise<UpdateSigner> {
  if (!signing) {
    if (files) throw new InputError('this image is not signed: sign it first (imgbuild sign), then update it with the key', { file: image });
    return { sign: async (pe) => pe, record: (before) => before };
  }
  if (!files) throw new InputError(`this image is signed (certificate sha256 ${signing.certSha256}): give --sign-key and --sign-cert, or the new slot will not boot under Secure Boot`, { file: image });
  const key = await loadSigningKey(files);
  if (key.certSha256 !== signing.certSha256) {
    throw new InputError(`--sign-cert ${files.cert} (sha256 ${key.certSha256}) is not the certificate this image was signed with (${signing.certSha256})`, { file: image });
  }
  return {
    sign: (pe, path, time) => signPe(pe, key, time, path),
    record: (before, path, data) => ({
      certSha256: key.certSha256,
      files: [...(before?.files ?? []).filter((f) => f.path !== path), { path, sha256: sha256Buffer(data) }].sort((a, b) => a.path.localeCompare(b.path)),
    }),
  };
}
