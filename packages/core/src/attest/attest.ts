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
 *   7. usrhash, version   the claims are that slot's root hash and version (and, when the verifier
 *                 says, PCR 7 and the extensions are the expected ones)
 */
import { createHash, createPublicKey } from 'node:crypto';
import type { ImageManifest } from '../manifest/manifest.js';
import { isLegacyBoot } from '../manifest/manifest.js';
import type { Slot } from '../layout/plan.js';
import { authorities, parseSystemdMeasureLog, parseTcgEventLog, replayPcr, type MeasuredEvent } from './eventlog.js';
import { BOOT_PHASES, extendPcr, pcr11Step, type BootPhase } from './pcr.js';
import { decodeQuote, decodeSignature, keyFingerprint, pcrDigest, quoteSignatureValid, TPM_ALG_SHA256, type QuoteInfo } from './quote.js';
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
  /** The system extensions the node should have merged, if the verifier knows (claims, not measurements). */
  expectedExtensions?: readonly string[];
}

const SLOTS: readonly Slot[] = ['A', 'B'];
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

function check(name: string, ok: boolean, expected: string | null, found: string | null, detail: string): AttestCheck {
  return { name, ok, expected, found, detail };
}

/** A check that compares two values: `same` or `differ` says what that means. */
function compare(name: string, expected: string | null, found: string | null, same: string, differ: string): AttestCheck {
  return check(name, expected === found, expected, found, expected === found ? same : differ);
}

/** Checks 1-4: the key, the signature, the nonce and claims, the PCR values. Stops at the first failure. */
function checkQuote(input: AttestInput, checks: AttestCheck[]): { ak: string } | null {
  const { report, nonce } = input;
  const akPem = Buffer.from(report.ak, 'base64').toString('utf8');
  let ak: string;
  try {
    ak = keyFingerprint(createPublicKey(akPem));
  } catch {
    checks.push(check('ak', false, null, null, "the report's attestation key is not a public key"));
    return null;
  }
  const trusted = input.trustedAk === null ? null : keyFingerprint(input.trustedAk);
  const another = `quote from another TPM: signed by AK ${ak.slice(0, 16)}…, this node's AK is ${trusted?.slice(0, 16)}…`;
  checks.push(compare('ak', trusted, ak, "the node's trusted attestation key", trusted === null ? 'no trusted attestation key for this node' : another));
  if (trusted !== ak) return null;

  const msg = Buffer.from(report.quote.message, 'base64');
  let quote: QuoteInfo;
  try {
    quote = decodeQuote(msg);
    if (!quoteSignatureValid(msg, decodeSignature(Buffer.from(report.quote.signature, 'base64')), akPem)) throw new Error('the signature does not verify');
  } catch (e) {
    checks.push(check('signature', false, null, null, `the quote is not signed by the attestation key: ${(e as Error).message}`));
    return null;
  }
  checks.push(check('signature', true, null, null, 'the quote verifies under the attestation key'));

  const got = quote.extraData.toString('hex');
  const replayed = got === claimsDigest(report.nonce, report).toString('hex');
  const why = replayed
    ? `the quote answers nonce ${report.nonce}, not ${nonce}: a replayed (old) quote`
    : 'the quote was made over other claims or another nonce: the report was edited after the quote (usrhash, version, extensions or nonce)';
  checks.push(compare('nonce', claimsDigest(nonce, report).toString('hex'), got, 'the quote answers this nonce, over these claims', why));
  if (!checks[checks.length - 1].ok) return null;

  const sel = quote.pcrSelect.filter((x) => x.pcrs.length > 0);
  const over711 = sel.length === 1 && sel[0].hash === TPM_ALG_SHA256 && sel[0].pcrs.join(',') === '7,11';
  const digest = pcrDigest([Buffer.from(report.pcrs['7'], 'hex'), Buffer.from(report.pcrs['11'], 'hex')]).toString('hex');
  const bad = over711 ? "the report's PCR 7 and 11 are not the quoted ones" : 'the quote is not over sha256 PCRs 7 and 11';
  checks.push(compare('pcrs', quote.pcrDigest.toString('hex'), over711 ? digest : null, 'PCR 7 and 11 are the quoted values', bad));
  return checks[checks.length - 1].ok ? { ak } : null;
}

/** Check 5: the logs, when the report has them, replay to the quoted PCRs. Returns their events. */
function checkLogs(report: AttestReport, checks: AttestCheck[]): MeasuredEvent[] {
  let events: MeasuredEvent[];
  try {
    events = [
      ...(report.eventLog ? parseTcgEventLog(Buffer.from(report.eventLog, 'base64')) : []),
      ...(report.systemdLog ? parseSystemdMeasureLog(Buffer.from(report.systemdLog, 'base64').toString('utf8')) : []),
    ];
  } catch (e) {
    checks.push(check('event log', false, null, null, `unreadable: ${(e as Error).message}`));
    return [];
  }
  if (events.length === 0) return [];
  for (const pcr of ['7', '11'] as const) {
    const { value, how } = pcr === '11' ? replayWithPhases(events, report.pcrs['11']) : { value: replayPcr(events, 7), how: '' };
    checks.push(
      compare(
        `event log PCR ${pcr}`,
        report.pcrs[pcr],
        value,
        `the logged events${how} replay to the quoted value`,
        'the logged events do not replay to the quoted value',
      ),
    );
  }
  return events;
}

/**
 * What PCR 7 can say in advance about a signed image: under Secure Boot the firmware logs the db entry
 * that allowed each image it started (EV_EFI_VARIABLE_AUTHORITY), and that must be the image's signing
 * certificate (manifest boot.signing.certSha256). PCR 7's value itself is not predicted (docs/boot.md § 10).
 */
function checkSigner(events: MeasuredEvent[], manifest: ImageManifest, checks: AttestCheck[]): void {
  const signer = isLegacyBoot(manifest.boot) ? null : (manifest.boot.signing?.certSha256 ?? null);
  if (!signer) return;
  const db = authorities(events).filter((a) => a.variable === 'db');
  const why = !events.some((e) => e.source === 'firmware')
    ? 'no firmware event log in the report'
    : db.length
      ? `the firmware allowed the boot files by other db entries (${db.map((a) => a.sha256.slice(0, 16)).join(', ')})`
      : 'no db authority in PCR 7: Secure Boot was off';
  const found = db.find((a) => a.sha256 === signer)?.sha256 ?? null;
  checks.push(compare('pcr7 signer', signer, found, "the firmware allowed the boot files by the image's signing certificate (db)", why));
}

/** Check 6: the slot whose UKI's predicted PCR 11 the node has, and the boot phase reached. */
function findSlot(manifest: ImageManifest, pcr11: string): { slot: Slot; step: 'uki' | BootPhase } | null {
  const boot = manifest.boot;
  if (isLegacyBoot(boot)) return null;
  for (const slot of SLOTS) {
    const rec = boot.slots[slot]?.pcr11;
    const step = rec ? pcr11Step(rec, pcr11) : null;
    if (step) return { slot, step };
  }
  return null;
}

/** Check 7: the claims against the slot PCR 11 named (and what else the verifier expects). */
function checkClaims(input: AttestInput, slot: Slot, checks: AttestCheck[]): void {
  const { report, manifest } = input;
  const rec = manifest.slots[slot];
  const rootHash = rec?.rootHash ?? null;
  checks.push(
    compare('usrhash', rootHash, report.usrhash, `slot ${slot}'s root hash`, `not slot ${slot}'s root hash (the UKI names it; /usr is something else)`),
  );
  const version = rec?.version ?? null;
  checks.push(
    compare(
      'version',
      version,
      report.version,
      `slot ${slot}'s version`,
      `slot ${slot} holds version ${version ?? '(none recorded)'}, the report says ${report.version}`,
    ),
  );
  if (input.expectedPcr7) {
    checks.push(
      compare(
        'pcr7',
        input.expectedPcr7,
        report.pcrs['7'],
        'the expected firmware and Secure Boot state',
        'another firmware, Secure Boot state or key database',
      ),
    );
  }
  if (input.expectedExtensions) {
    const want = [...input.expectedExtensions].sort().join(',') || 'none';
    const have = [...report.extensions].sort().join(',') || 'none';
    checks.push(compare('extensions', want, have, 'the expected system extensions', `merged ${have}, expected ${want}`));
  }
}

export function attestReport(input: AttestInput): AttestVerdict {
  const { report, manifest } = input;
  const checks: AttestCheck[] = [];
  const quoted = checkQuote(input, checks);
  if (!quoted) return { ok: false, identity: null, checks, pcr11Events: [] };
  const events = checkLogs(report, checks);
  checkSigner(events, manifest, checks);
  const pcr11Events = events.filter((e) => e.pcr === 11);
  const found = findSlot(manifest, report.pcrs['11']);
  if (!found) {
    const why = `PCR 11 is none of this image's predictions: another UKI booted${explainPcr11(pcr11Events, manifest)}`;
    checks.push(check('pcr11', false, null, report.pcrs['11'], why));
    return { ok: false, identity: null, checks, pcr11Events };
  }
  const { slot, step } = found;
  const reached = `slot ${slot}'s UKI, ${step === 'uki' ? 'no boot phase measured' : `measured up to ${step}`}`;
  checks.push(compare('pcr11', 'ready', step, reached, `${reached} (not a fully booted system)`));
  checkClaims(input, slot, checks);
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
    ak: quoted.ak,
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
