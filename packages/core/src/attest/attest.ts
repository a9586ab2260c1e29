/**
 * The verifier's verdict on a node's attestation report, against an image's manifest: which image,
 * slot and version the node runs, or each value that differs and why. Pure: the caller reads the
 * files and decides which attestation key it trusts.
 *
 * Order of the checks, each building on the one before:
 *   1. ak         the report's key is the one trusted for this node (else: another TPM)
 *   2. signature  the quote verifies under that key (else: forged or damaged)
 *   3. nonce      the quote's qualifying data is sha256(the verifier's nonce ‖ the claims) (else: a
 *                 replayed quote, or claims edited after the quote)
 *   4. pcrs       the report's PCR 7 and 11 are the quoted ones
 *   5. event log  the logs replay to the quoted PCRs (they then explain them)
 *   6. pcr11      PCR 11 is one of the manifest's predictions: that names the slot's UKI, and the
 *                 boot phase reached
 *   7. usrhash, version   the claims are that slot's root hash and version
 */
import { createHash, createPublicKey } from 'node:crypto';
import type { ImageManifest } from '../image/manifest.js';
import { isLegacyBoot } from '../image/manifest.js';
import type { Slot } from '../layout/plan.js';
import { parseSystemdMeasureLog, parseTcgEventLog, replayPcr, type MeasuredEvent } from './eventlog.js';
import { BOOT_PHASES, extendPcr, pcr11Step, type BootPhase } from './pcr.js';
import { decodeQuote, decodeSignature, keyFingerprint, pcrDigest, quoteSignatureValid, TPM_ALG_SHA256 } from './quote.js';
import { claimsDigest, type AttestReport } from './report.js';

export interface AttestCheck {
  name: string;
  ok: boolean;
  expected: string | null;
  found: string | null;
  detail: string;
}

export interface AttestIdentity {
  image: string;
  /** The image's identity digest (manifest image.digest), when recorded. */
  imageDigest: string | null;
  slot: Slot;
  version: string | null;
  usrhash: string;
  extensions: string[];
  /** The last boot phase in PCR 11 ('uki': none). */
  phase: 'uki' | BootPhase;
  pcr7: string;
  pcr11: string;
  /** sha256 of the attestation key (DER SubjectPublicKeyInfo). */
  ak: string;
}

export interface AttestVerdict {
  ok: boolean;
  identity: AttestIdentity | null;
  checks: AttestCheck[];
  /** The events that explain PCR 11, from the logs (empty without logs). */
  pcr11Events: MeasuredEvent[];
}

export interface AttestInput {
  report: AttestReport;
  manifest: ImageManifest;
  /** The nonce the verifier handed out for this attestation (hex). */
  nonce: string;
  /** The node's trusted attestation key (PEM); null: none yet (the verdict then fails on `ak`). */
  trustedAk: string | null;
  /** PCR 7 the verifier expects (a known firmware and Secure Boot state), if any. */
  expectedPcr7?: string;
}

const SLOTS: readonly Slot[] = ['A', 'B'];
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

function check(name: string, ok: boolean, expected: string | null, found: string | null, detail: string): AttestCheck {
  return { name, ok, expected, found, detail };
}

export function attestReport(input: AttestInput): AttestVerdict {
  const { report, manifest, nonce } = input;
  const checks: AttestCheck[] = [];
  const done = (): AttestVerdict => ({ ok: false, identity: null, checks, pcr11Events: [] });
  const akPem = Buffer.from(report.ak, 'base64').toString('utf8');
  let ak: string;
  try {
    ak = keyFingerprint(createPublicKey(akPem));
  } catch {
    checks.push(check('ak', false, null, null, "the report's attestation key is not a public key"));
    return done();
  }

  // 1. the key
  const trusted = input.trustedAk === null ? null : keyFingerprint(input.trustedAk);
  if (trusted !== ak) {
    checks.push(check('ak', false, trusted, ak, trusted === null ? 'no trusted attestation key for this node' : `quote from another TPM: signed by AK ${ak.slice(0, 16)}…, this node's AK is ${trusted.slice(0, 16)}…`));
    return done();
  }
  checks.push(check('ak', true, trusted, ak, "the node's trusted attestation key"));

  // 2. the signature
  const msg = Buffer.from(report.quote.message, 'base64');
  let quote;
  try {
    quote = decodeQuote(msg);
    if (!quoteSignatureValid(msg, decodeSignature(Buffer.from(report.quote.signature, 'base64')), akPem)) throw new Error('the signature does not verify');
  } catch (e) {
    checks.push(check('signature', false, null, null, `the quote is not signed by the attestation key: ${(e as Error).message}`));
    return done();
  }
  checks.push(check('signature', true, null, null, 'the quote verifies under the attestation key'));

  // 3. nonce and claims
  const got = quote.extraData.toString('hex');
  const want = claimsDigest(nonce, report).toString('hex');
  if (got !== want) {
    const asReported = claimsDigest(report.nonce, report).toString('hex');
    const why =
      got === asReported
        ? `the quote answers nonce ${report.nonce}, not ${nonce}: a replayed (old) quote`
        : 'the quote was made over other claims or another nonce: the report was edited after the quote (usrhash, version, extensions or nonce)';
    checks.push(check('nonce', false, want, got, why));
    return done();
  }
  checks.push(check('nonce', true, want, got, 'the quote answers this nonce, over these claims'));

  // 4. the PCR values
  const sel = quote.pcrSelect.filter((s) => s.pcrs.length > 0);
  const quoted = sel.length === 1 && sel[0].hash === TPM_ALG_SHA256 && sel[0].pcrs.join(',') === '7,11';
  const digest = pcrDigest([Buffer.from(report.pcrs['7'], 'hex'), Buffer.from(report.pcrs['11'], 'hex')]).toString('hex');
  if (!quoted || digest !== quote.pcrDigest.toString('hex')) {
    checks.push(check('pcrs', false, quote.pcrDigest.toString('hex'), digest, quoted ? "the report's PCR 7 and 11 are not the quoted ones" : 'the quote is not over sha256 PCRs 7 and 11'));
    return done();
  }
  checks.push(check('pcrs', true, null, digest, 'PCR 7 and 11 are the quoted values'));

  // 5. the logs, when present, explain the PCRs
  let events: MeasuredEvent[] = [];
  try {
    events = [
      ...(report.eventLog ? parseTcgEventLog(Buffer.from(report.eventLog, 'base64')) : []),
      ...(report.systemdLog ? parseSystemdMeasureLog(Buffer.from(report.systemdLog, 'base64').toString('utf8')) : []),
    ];
  } catch (e) {
    checks.push(check('event log', false, null, null, `unreadable: ${(e as Error).message}`));
  }
  if (events.length > 0) {
    for (const pcr of ['7', '11'] as const) {
      const { value, how } = pcr === '11' ? replayWithPhases(events, report.pcrs['11']) : { value: replayPcr(events, 7), how: '' };
      const ok = value === report.pcrs[pcr];
      checks.push(check(`event log PCR ${pcr}`, ok, report.pcrs[pcr], value, ok ? `the logged events${how} replay to the quoted value` : 'the logged events do not replay to the quoted value'));
    }
  }
  const pcr11Events = events.filter((e) => e.pcr === 11);
  if (input.expectedPcr7) checks.push(check('pcr7', input.expectedPcr7 === report.pcrs['7'], input.expectedPcr7, report.pcrs['7'], input.expectedPcr7 === report.pcrs['7'] ? 'the expected firmware and Secure Boot state' : 'another firmware, Secure Boot state or key database'));

  // 6. which UKI booted
  const boot = manifest.boot;
  const slots = isLegacyBoot(boot) ? [] : SLOTS.flatMap((s) => {
    const rec = boot.slots[s]?.pcr11;
    const step = rec ? pcr11Step(rec, report.pcrs['11']) : null;
    return step ? [{ slot: s, step }] : [];
  });
  if (slots.length === 0) {
    checks.push(check('pcr11', false, null, report.pcrs['11'], `PCR 11 is none of this image's predictions: another UKI booted${explainPcr11(pcr11Events, manifest)}`));
    return { ok: false, identity: null, checks, pcr11Events };
  }
  const { slot, step } = slots[0];
  checks.push(check('pcr11', step === 'ready', 'ready', step, `slot ${slot}'s UKI, ${step === 'uki' ? 'no boot phase measured' : `measured up to ${step}`}${step === 'ready' ? '' : ' (not a fully booted system)'}`));

  // 7. the claims against that slot
  const rec = manifest.slots[slot];
  checks.push(check('usrhash', rec?.rootHash === report.usrhash, rec?.rootHash ?? null, report.usrhash, rec?.rootHash === report.usrhash ? `slot ${slot}'s root hash` : `not slot ${slot}'s root hash (the UKI names it; /usr is something else)`));
  const version = rec?.version ?? null;
  checks.push(check('version', version === report.version, version, report.version, version === report.version ? `slot ${slot}'s version` : `slot ${slot} holds version ${version ?? '(none recorded)'}, the report says ${report.version}`));

  const ok = checks.every((c) => c.ok);
  const identity: AttestIdentity = {
    image: manifest.image.name,
    imageDigest: manifest.image.digest?.rootHash ?? null,
    slot,
    version: report.version,
    usrhash: report.usrhash,
    extensions: [...report.extensions].sort(),
    phase: step,
    pcr7: report.pcrs['7'],
    pcr11: report.pcrs['11'],
    ak,
  };
  return { ok, identity: ok ? identity : null, checks, pcr11Events };
}

/**
 * PCR 11 from the logs. systemd 254 keeps no log of the boot phases it measures when none exists yet
 * (its tpm2-measure.log is optional), so when the logs hold no phase, the standard phases are tried
 * after the stub's events, in order: the value must still be the quoted one exactly.
 */
function replayWithPhases(events: MeasuredEvent[], quoted: string): { value: string; how: string } {
  const logged = replayPcr(events, 11);
  if (events.some((e) => e.pcr === 11 && e.source === 'systemd')) return { value: logged, how: '' };
  let v: Buffer = Buffer.from(logged, 'hex');
  const tries = [{ value: logged, how: '' }];
  for (const phase of BOOT_PHASES) {
    v = extendPcr(v, createHash('sha256').update(phase).digest());
    tries.push({ value: v.toString('hex'), how: ` and the boot phases up to ${phase} (not logged)` });
  }
  return tries.find((t) => t.value === quoted) ?? tries[0];
}

/**
 * What the stub's logged section digests say against the manifest's records of each slot's UKI
 * (kernel, initrd, command line): which section differs.
 */
function explainPcr11(events: MeasuredEvent[], m: ImageManifest): string {
  const boot = m.boot;
  if (events.length === 0 || isLegacyBoot(boot)) return '';
  const content = events.filter((e) => e.source === 'firmware' && /^\.[a-z]+$/.test(e.description) && e.sha256 !== sha(`${e.description}\0`));
  const known = (s: Slot): Record<string, string | undefined> => {
    const b = boot.slots[s];
    return b ? { '.linux': b.kernelSha256, '.initrd': b.initrdSha256, '.cmdline': sha(b.cmdline) } : {};
  };
  const notes = content.flatMap((e) => {
    const matching = SLOTS.filter((s) => known(s)[e.description] === e.sha256);
    if (!SLOTS.some((s) => known(s)[e.description] !== undefined)) return [];
    return [`${e.description} ${matching.length ? `as slot ${matching.join('/')}'s` : "matches no slot's"}`];
  });
  return notes.length ? `; the stub's log: ${notes.join(', ')}` : '';
}
