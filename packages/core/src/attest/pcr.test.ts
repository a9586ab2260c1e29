import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildUki, DEFAULT_UKI_STUB } from '../boot/uki.js';
import { BOOT_PHASES, extendPcr, measuredSections, pcr11Entry, pcr11Step, predictPcr11, stubRelease } from './pcr.js';

const haveStub = existsSync(DEFAULT_UKI_STUB);
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest();

function fakeKernel(): Buffer {
  const k = Buffer.alloc(0x3000, 0x4b);
  k.writeUInt16LE(0xaa55, 0x1fe);
  k.write('HdrS', 0x202, 'latin1');
  k.writeUInt16LE(0x20f, 0x206);
  k.writeUInt32LE(2047, 0x238);
  return k;
}

/** The host's stub with its LoaderInfo release rewritten (same length), to exercise another release's rules. */
function stubSaying(release: string): Buffer {
  const stub = Buffer.from(readFileSync(DEFAULT_UKI_STUB));
  const at = stub.indexOf('LoaderInfo: systemd-stub ');
  expect(at).toBeGreaterThan(0);
  stub.write(release, at + 'LoaderInfo: systemd-stub '.length, 'latin1');
  return stub;
}

describe('stub release', () => {
  it('reads the LoaderInfo string, and knows which sections each release measures', () => {
    expect(stubRelease(Buffer.from('#### LoaderInfo: systemd-stub 252.39-1~deb12u2 ####\0'))).toEqual({ version: '252.39-1~deb12u2', major: 252 });
    expect(stubRelease(Buffer.from('#### LoaderInfo: systemd-stub 254.5-1~bpo12+3 ####'))).toEqual({ version: '254.5-1~bpo12+3', major: 254 });
    expect(stubRelease(Buffer.from('#### LoaderInfo: systemd-boot 252 ####'))).toBeNull();
    expect(stubRelease(undefined)).toBeNull();
    expect(measuredSections({ version: '252', major: 252 })).not.toContain('.uname');
    expect(measuredSections({ version: '252', major: 252 })).not.toContain('.sbat');
    expect(measuredSections({ version: '254', major: 254 })).toEqual([
      '.linux',
      '.osrel',
      '.cmdline',
      '.initrd',
      '.splash',
      '.dtb',
      '.uname',
      '.sbat',
      '.pcrpkey',
    ]);
  });
});

describe.skipIf(!haveStub)('PCR 11 prediction', () => {
  const input = { kernel: fakeKernel(), initrd: Buffer.from('an initrd'), cmdline: 'quiet x=1', osRelease: 'ID=t\n', uname: '6.1.0-t' };

  it('the 252 stub: .linux .osrel .cmdline .initrd, name then bytes, then the four phases', () => {
    const uki = buildUki({ stub: readFileSync(DEFAULT_UKI_STUB), ...input });
    const p = predictPcr11(uki);
    expect(p.stub.major).toBe(252);
    // by hand, from the inputs rather than from the UKI
    let pcr: Buffer = Buffer.alloc(32);
    for (const [name, data] of [
      ['.linux', input.kernel],
      ['.osrel', Buffer.from(input.osRelease)],
      ['.cmdline', Buffer.from(input.cmdline)],
      ['.initrd', input.initrd],
    ] as const) {
      pcr = extendPcr(pcr, sha(`${name}\0`));
      pcr = extendPcr(pcr, sha(data));
    }
    expect(p.uki).toBe(pcr.toString('hex'));
    for (const phase of BOOT_PHASES) {
      pcr = extendPcr(pcr, sha(phase));
      expect(p.phases[phase]).toBe(pcr.toString('hex'));
    }
    expect(p.events.map((e) => e.what)).toEqual([
      'section-name:.linux',
      'section:.linux',
      'section-name:.osrel',
      'section:.osrel',
      'section-name:.cmdline',
      'section:.cmdline',
      'section-name:.initrd',
      'section:.initrd',
      ...BOOT_PHASES.map((x) => `phase:${x}`),
    ]);
  });

  it('a 254 stub also measures .uname and its own .sbat; an unknown stub gets no prediction', () => {
    const p252 = predictPcr11(buildUki({ stub: stubSaying('252.39-1~deb12u2'), ...input }));
    const p254 = predictPcr11(buildUki({ stub: stubSaying('254.55-1~bpo12+3'), ...input }));
    expect(p254.stub.version).toBe('254.55-1~bpo12+3');
    expect(p254.events.map((e) => e.what)).toContain('section:.uname');
    expect(p254.events.map((e) => e.what)).toContain('section:.sbat');
    expect(p254.uki).not.toBe(p252.uki);
    expect(pcr11Entry(buildUki({ stub: stubSaying('252.39-1~deb12u2'), ...input })).pcr11?.stub).toBe('systemd-stub 252.39-1~deb12u2');
    const foreign = Buffer.from(readFileSync(DEFAULT_UKI_STUB));
    foreign.write('XXXXXXXXXX', foreign.indexOf('LoaderInfo'), 'latin1');
    expect(pcr11Entry(buildUki({ stub: foreign, ...input }))).toEqual({});
  });

  it('one changed byte in any measured section changes every value; pcr11Step names the step', () => {
    const a = pcr11Entry(buildUki({ stub: readFileSync(DEFAULT_UKI_STUB), ...input })).pcr11!;
    const b = pcr11Entry(buildUki({ stub: readFileSync(DEFAULT_UKI_STUB), ...input, cmdline: 'quiet x=2' })).pcr11!;
    for (const k of ['uki', ...BOOT_PHASES] as const) expect(b[k]).not.toBe(a[k]);
    expect(pcr11Step(a, a.sysinit)).toBe('sysinit');
    expect(pcr11Step(a, a.uki)).toBe('uki');
    expect(pcr11Step(a, b.ready)).toBeNull();
  });
});
