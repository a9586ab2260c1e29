import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CorruptError } from '../errors.js';
import { authorities, EV_EFI_VARIABLE_AUTHORITY, EV_IPL, EV_NO_ACTION, parseSystemdMeasureLog, parseTcgEventLog, replayPcr } from './eventlog.js';
import { extendPcr } from './pcr.js';

const sha = (s: string | Buffer) => createHash('sha256').update(s).digest();

/** A crypto-agile log written field by field from the TCG PC Client profile (SHA-1 and SHA-256 banks). */
function tcgLog(events: Array<{ pcr: number; type: number; data: Buffer }>): Buffer {
  const spec = Buffer.alloc(16 + 4 + 4 + 4 + 2 * 4 + 1);
  spec.write('Spec ID Event03\0', 0, 'latin1');
  spec.writeUInt32LE(0, 16); // platformClass
  spec.writeUInt8(0, 20); // specVersionMinor
  spec.writeUInt8(2, 21); // specVersionMajor
  spec.writeUInt8(0, 22); // specErrata
  spec.writeUInt8(2, 23); // uintnSize
  spec.writeUInt32LE(2, 24); // numberOfAlgorithms
  spec.writeUInt16LE(0x0004, 28); // sha1, 20 bytes
  spec.writeUInt16LE(20, 30);
  spec.writeUInt16LE(0x000b, 32); // sha256, 32 bytes
  spec.writeUInt16LE(32, 34);
  const head = Buffer.alloc(32);
  head.writeUInt32LE(0, 0);
  head.writeUInt32LE(EV_NO_ACTION, 4);
  head.writeUInt32LE(spec.length, 28);
  const parts: Buffer[] = [head, spec];
  for (const e of events) {
    const h = Buffer.alloc(12);
    h.writeUInt32LE(e.pcr, 0);
    h.writeUInt32LE(e.type, 4);
    h.writeUInt32LE(2, 8);
    const d1 = Buffer.alloc(22);
    d1.writeUInt16LE(0x0004, 0);
    createHash('sha1').update(e.data).digest().copy(d1, 2);
    const d2 = Buffer.alloc(34);
    d2.writeUInt16LE(0x000b, 0);
    sha(e.data).copy(d2, 2);
    const size = Buffer.alloc(4);
    size.writeUInt32LE(e.data.length);
    parts.push(h, d1, d2, size, e.data);
  }
  return Buffer.concat(parts);
}

describe('measurement logs', () => {
  it('decodes a crypto-agile TCG log and replays a PCR', () => {
    const log = tcgLog([
      { pcr: 7, type: 0x80000001, data: Buffer.from('SecureBoot\0') },
      { pcr: 11, type: EV_IPL, data: Buffer.from('.linux\0') },
      { pcr: 11, type: EV_IPL, data: Buffer.from('.osrel\0') },
    ]);
    const ev = parseTcgEventLog(log);
    expect(ev.map((e) => [e.pcr, e.description])).toEqual([
      [7, 'SecureBoot'],
      [11, '.linux'],
      [11, '.osrel'],
    ]);
    const want = extendPcr(extendPcr(Buffer.alloc(32), sha('.linux\0')), sha('.osrel\0')).toString('hex');
    expect(replayPcr(ev, 11)).toBe(want);
    expect(() => parseTcgEventLog(log.subarray(0, log.length - 3))).toThrow(CorruptError);
    expect(() => parseTcgEventLog(Buffer.alloc(64))).toThrow(/crypto-agile/);
  });

  it("reads systemd's JSON-SEQ log", () => {
    const rec = (pcr: number, word: string) =>
      `\x1e${JSON.stringify({ pcr, digests: [{ hashAlg: 'sha256', digest: sha(word).toString('hex') }], content_type: 'systemd', content: { string: word } })}\n`;
    const ev = parseSystemdMeasureLog(rec(11, 'enter-initrd') + rec(11, 'leave-initrd') + rec(15, 'machine-id:x'));
    expect(ev.map((e) => e.description)).toEqual(['enter-initrd', 'leave-initrd', 'machine-id:x']);
    expect(replayPcr(ev, 11)).toBe(extendPcr(extendPcr(Buffer.alloc(32), sha('enter-initrd')), sha('leave-initrd')).toString('hex'));
    expect(() => parseSystemdMeasureLog('\x1e{not json')).toThrow(CorruptError);
  });

  it('finds the db certificate logged as the authority that allowed an image (PCR 7)', () => {
    const cert = Buffer.from('a DER certificate, as far as this test cares');
    const name = Buffer.from('db', 'utf16le');
    const head = Buffer.alloc(32);
    head.write('cbb219d73a3d9645a3bcdad00e67656f', 0, 'hex'); // EFI_IMAGE_SECURITY_DATABASE_GUID
    head.writeBigUInt64LE(2n, 16); // UnicodeNameLength (characters)
    head.writeBigUInt64LE(BigInt(16 + cert.length), 24); // VariableDataLength: owner GUID + entry
    const data = Buffer.concat([head, name, Buffer.alloc(16, 0x11), cert]);
    const ev = parseTcgEventLog(tcgLog([{ pcr: 7, type: EV_EFI_VARIABLE_AUTHORITY, data }, { pcr: 7, type: 0x80000001, data: Buffer.from('x') }]));
    expect(authorities(ev)).toEqual([{ variable: 'db', sha256: sha(cert).toString('hex') }]);
  });
});
