/**
 * Secure Boot signatures of the files the firmware and the selector start: every file the manifest
 * records as signed verifies (Authenticode) against the certificate — the one given with `--cert`,
 * else the one the manifest names by fingerprint, found among the certificates the signatures carry.
 * The selector and each slot's UKI must be among the signed files. An unsigned image says so.
 */
import type { X509Certificate } from 'node:crypto';
import { signatureCertificates, verifyAuthenticode } from '../boot/authenticode.js';
import { certSha256 } from '../boot/sign.js';
import type { ImageManifest } from '../manifest/manifest.js';
import { isLegacyBoot } from '../manifest/manifest.js';
import { fail, info, notCovered, pass, type ImageCheck } from './check.js';
import type { EspFileRead } from './check-esp.js';

const R = 'signing';

export function checkSignatures(files: readonly EspFileRead[], m: ImageManifest, given?: X509Certificate): ImageCheck[] {
  const b = m.boot;
  if (isLegacyBoot(b) || b.signing === undefined) {
    return given ? [fail(R, 'Secure Boot signatures', certSha256(given), null, 'the manifest records no signing (made before imgbuild signed images)')] : [notCovered(R, 'Secure Boot signatures', 'the manifest predates signing')];
  }
  if (b.signing === null) {
    if (given) return [fail(R, 'Secure Boot signatures', certSha256(given), 'unsigned', 'the image is unsigned (built without --sign-key); the firmware will refuse it under Secure Boot')];
    return [info(R, 'Secure Boot', 'unsigned (built without --sign-key): boots only with Secure Boot off', 'unsigned')];
  }
  const out: ImageCheck[] = [];
  const byPath = new Map(files.map((f) => [f.path.toUpperCase(), f]));
  let trusted = given;
  if (given) {
    const fp = certSha256(given);
    out.push(fp === b.signing.certSha256 ? pass(R, 'certificate', 'the given certificate is the one the manifest records', fp) : fail(R, 'certificate', b.signing.certSha256, fp, `the manifest records certificate ${b.signing.certSha256}, --cert is ${fp}`));
  } else {
    const carried = b.signing.files.flatMap((f) => {
      const file = byPath.get(f.path.toUpperCase());
      try {
        return file ? signatureCertificates(file.data) : [];
      } catch {
        return [];
      }
    });
    trusted = carried.find((c) => certSha256(c) === b.signing!.certSha256);
    if (!trusted) return [...out, fail(R, 'certificate', b.signing.certSha256, null, `no signature on the ESP carries the manifest's certificate ${b.signing.certSha256}`)];
  }
  const mustSign = [b.selector.path, ...(['A', 'B'] as const).flatMap((s) => (b.slots[s] ? [b.slots[s]!.uki] : []))];
  for (const path of mustSign) {
    if (!b.signing.files.some((f) => f.path.toUpperCase() === path.toUpperCase())) out.push(fail(R, `${path}: signed`, 'signed', 'not recorded as signed', `${path} is started at boot but the manifest does not record it as signed`));
  }
  for (const f of b.signing.files) {
    const file = byPath.get(f.path.toUpperCase());
    if (!file) {
      out.push(fail(R, `${f.path}: signature`, 'signed file', null, `${f.path} is not on the ESP`));
      continue;
    }
    const v = verifyAuthenticode(file.data, trusted!);
    out.push(v.ok ? pass(R, `${f.path}: signature`, `Authenticode ${v.digestAlgorithm}, signed by the certificate`, certSha256(v.signer)) : fail(R, `${f.path}: signature`, 'valid signature', 'invalid', v.reason));
  }
  return out;
}
