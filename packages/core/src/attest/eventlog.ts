/**
 * The measurement logs that explain PCR values. Pure decoders and a replay.
 *
 * - The firmware's TCG event log (TCG PC Client Platform Firmware Profile, "crypto agile" format), as
 *   Linux exposes it in /sys/kernel/security/tpm0/binary_bios_measurements: a first TCG_PCR_EVENT
 *   (SHA-1 layout) whose "Spec ID Event03" lists the digest sizes, then TCG_PCR_EVENT2 records. All
 *   integers little-endian. systemd's stub logs its PCR 11 measurements here (EV_IPL, the section name
 *   as the event data).
 * - systemd's own log, /run/log/systemd/tpm2-measure.log (systemd 253 and later): JSON-SEQ records
 *   (each preceded by 0x1e) with `pcr`, `digests` [{hashAlg, digest}] and `content`; systemd-pcrphase
 *   logs the boot phases there.
 */
import { createHash } from 'node:crypto';
import { CorruptError } from '../errors.js';
import { extendPcr } from './pcr.js';
import { TPM_ALG_SHA256 } from './quote.js';

export const EV_NO_ACTION = 0x03;
export const EV_IPL = 0x0d;
/** PCR 7: the db entry (certificate or hash) that allowed an image under Secure Boot. */
export const EV_EFI_VARIABLE_AUTHORITY = 0x800000e0;

/**
 * One event of a TCG (firmware) or systemd measurement log.
 *
 * @example
 * ```ts
 * for (const e of verdict.pcr11Events) console.log(e.pcr, e.source, e.description, e.sha256);
 * ```
 */
export interface MeasuredEvent {
  pcr: number;
  type: number;
  /** The sha256 bank's digest, hex. */
  sha256: string;
  /** The event data as text where it is text (ASCII or UTF-16LE), else its hex, cut to 64 characters. */
  description: string;
  source: 'firmware' | 'systemd';
  /** The event data (firmware events). */
  data?: Buffer;
}

function describe(data: Buffer): string {
  const printable = (s: string) => /^[\x20-\x7e]*$/.test(s);
  const ascii = data.toString('latin1').replace(/\0+$/, '');
  if (ascii.length > 0 && printable(ascii)) return ascii.slice(0, 64);
  if (data.length % 2 === 0) {
    const u16 = data.toString('utf16le').replace(/\0+$/, '');
    if (u16.length > 0 && printable(u16)) return u16.slice(0, 64);
  }
  return data.subarray(0, 32).toString('hex');
}

/** Decodes a crypto-agile TCG event log. Throws CorruptError. */
export function parseTcgEventLog(log: Buffer): MeasuredEvent[] {
  const need = (off: number, n: number) => {
    if (off + n > log.length) throw new CorruptError(`TCG event log truncated at byte ${off}`);
  };
  // first event: pcr u32, type u32, sha1[20], size u32, data: "Spec ID Event03" with the digest sizes
  need(0, 32);
  const firstSize = log.readUInt32LE(28);
  need(32, firstSize);
  const spec = log.subarray(32, 32 + firstSize);
  if (!spec.subarray(0, 15).equals(Buffer.from('Spec ID Event03'))) throw new CorruptError('TCG event log: not the crypto-agile format (no "Spec ID Event03")');
  const algCount = spec.readUInt32LE(24); // after signature[16], platformClass u32, minor, major, errata, uintnSize (u8 each)
  const sizes = new Map<number, number>();
  for (let i = 0; i < algCount; i++) sizes.set(spec.readUInt16LE(28 + i * 4), spec.readUInt16LE(30 + i * 4));
  const events: MeasuredEvent[] = [];
  let off = 32 + firstSize;
  while (off + 12 <= log.length) {
    const pcr = log.readUInt32LE(off);
    const type = log.readUInt32LE(off + 4);
    const count = log.readUInt32LE(off + 8);
    if (pcr === 0xffffffff || (pcr === 0 && type === 0 && count === 0)) break; // padding after the last event
    let p = off + 12;
    let sha256 = '';
    for (let i = 0; i < count; i++) {
      need(p, 2);
      const alg = log.readUInt16LE(p);
      const size = sizes.get(alg);
      if (size === undefined) throw new CorruptError(`TCG event log: digest algorithm 0x${alg.toString(16)} not in the Spec ID event`);
      need(p + 2, size);
      if (alg === TPM_ALG_SHA256) sha256 = log.subarray(p + 2, p + 2 + size).toString('hex');
      p += 2 + size;
    }
    need(p, 4);
    const size = log.readUInt32LE(p);
    need(p + 4, size);
    const data = log.subarray(p + 4, p + 4 + size);
    events.push({ pcr, type, sha256, description: describe(data), source: 'firmware', data });
    off = p + 4 + size;
  }
  return events;
}

/** Decodes systemd's tpm2-measure.log (JSON-SEQ). Records without a sha256 digest are kept with ''. */
export function parseSystemdMeasureLog(text: string): MeasuredEvent[] {
  const out: MeasuredEvent[] = [];
  for (const rec of text.split('\x1e')) {
    if (rec.trim() === '') continue;
    let j: { pcr?: number; digests?: Array<{ hashAlg?: string; digest?: string }>; content?: Record<string, unknown> };
    try {
      j = JSON.parse(rec);
    } catch {
      throw new CorruptError(`systemd measurement log: a record is not JSON: ${rec.slice(0, 60)}`);
    }
    if (typeof j.pcr !== 'number') continue;
    const sha256 = j.digests?.find((d) => d.hashAlg === 'sha256')?.digest ?? '';
    const c = j.content ?? {};
    const description = String(c.string ?? c.eventType ?? JSON.stringify(c)).slice(0, 64);
    out.push({ pcr: j.pcr, type: 0, sha256, description, source: 'systemd' });
  }
  return out;
}

/**
 * The certificates the firmware logged as the authority that allowed an image (PCR 7,
 * EV_EFI_VARIABLE_AUTHORITY): UEFI_VARIABLE_DATA = VariableName GUID[16], UnicodeNameLength u64,
 * VariableDataLength u64, the name (UTF-16), then the data: an EFI_SIGNATURE_DATA, the owner GUID[16]
 * and the entry itself (a DER certificate for an X.509 db entry). Returns each entry's variable name
 * and sha256.
 */
export function authorities(events: MeasuredEvent[]): Array<{ variable: string; sha256: string }> {
  const out: Array<{ variable: string; sha256: string }> = [];
  for (const e of events) {
    const d = e.data;
    if (e.pcr !== 7 || e.type !== EV_EFI_VARIABLE_AUTHORITY || !d || d.length < 32) continue;
    const nameChars = Number(d.readBigUInt64LE(16));
    const dataLen = Number(d.readBigUInt64LE(24));
    const dataAt = 32 + nameChars * 2;
    if (dataAt + dataLen > d.length || dataLen < 16) continue;
    const variable = d.toString('utf16le', 32, dataAt).replace(/\0+$/, '');
    out.push({
      variable,
      sha256: createHash('sha256')
        .update(d.subarray(dataAt + 16, dataAt + dataLen))
        .digest('hex'),
    });
  }
  return out;
}

/** Replays the events into `pcr` from zero (EV_NO_ACTION is not extended). */
export function replayPcr(events: MeasuredEvent[], pcr: number): string {
  let v: Buffer = Buffer.alloc(32);
  for (const e of events) {
    if (e.pcr !== pcr || (e.source === 'firmware' && e.type === EV_NO_ACTION)) continue;
    v = extendPcr(v, Buffer.from(e.sha256, 'hex'));
  }
  return v.toString('hex');
}
