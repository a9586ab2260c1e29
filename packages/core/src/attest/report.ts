/**
 * The attestation report a node prints (os/files/usr/lib/imgbuild/attest), as the verifier reads it,
 * and the claims digest that binds the verifier's nonce and the node's claims into the quote.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { CorruptError } from '../errors.js';

const hex = z.string().regex(/^(?:[0-9a-f]{2})*$/, 'lowercase hex');
const hex32 = z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits');
const b64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64');

export const REPORT_FORMAT = 'imgbuild-attest-1';

export const attestReportSchema = z
  .object({
    format: z.literal(REPORT_FORMAT),
    nonce: hex,
    /** The live dm-verity root hash of /usr ('' when /usr is not a verity device). */
    usrhash: z.union([hex32, z.literal('')]),
    version: z.string(),
    extensions: z.array(z.string()),
    /** PCR values (sha256 bank) as the node read them; the quote's digest proves them. */
    pcrs: z.object({ '7': hex32, '11': hex32 }).strict(),
    /** The attestation key's public key, PEM, base64-encoded. */
    ak: b64,
    quote: z.object({ message: b64, signature: b64 }).strict(),
    /** The firmware's TCG event log and systemd's tpm2-measure.log, base64 ('' when absent). */
    eventLog: b64,
    systemdLog: b64,
  })
  .strict();
/**
 * A node's attestation report (`imgbuild-attest-1`): its claims (usrhash, version, extensions), PCR 7
 * and 11, the attestation key and the TPM quote over them, and the event logs.
 *
 * @example
 * ```ts
 * const report: AttestReport = parseAttestReport(await readFile('node-report.json', 'utf8'));
 * console.log(report.usrhash, report.pcrs['11']);
 * ```
 */
export type AttestReport = z.infer<typeof attestReportSchema>;

/**
 * Parses a report's JSON text. Throws CorruptError naming the first bad field.
 *
 * @example
 * ```ts
 * const report = parseAttestReport(await readFile('node-report.json', 'utf8')); // CorruptError on a bad field
 * ```
 */
export function parseAttestReport(text: string): AttestReport {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new CorruptError(`not a JSON attestation report: ${(e as Error).message}`);
  }
  const r = attestReportSchema.safeParse(j);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new CorruptError(`not an imgbuild attestation report: ${i.path.join('.') || '(top)'}: ${i.message}`);
  }
  return r.data;
}

/**
 * The quote's qualifying data: sha256 of the nonce and the claims, one `key=value` line each, exactly
 * as the node's attest script writes them (it uses printf and sha256sum; keep the two identical).
 */
export function claimsDigest(nonce: string, c: { usrhash: string; version: string; extensions: readonly string[] }): Buffer {
  const ext = [...c.extensions].sort().join(',');
  const text = `${REPORT_FORMAT}\nnonce=${nonce}\nusrhash=${c.usrhash}\nversion=${c.version}\nextensions=${ext}\n`;
  return createHash('sha256').update(text).digest();
}
