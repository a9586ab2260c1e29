import { describe, expect, it } from 'vitest';
import { formatCmdline, parseCmdline } from './cmdline.js';

const A = { partuuid: '7130c94a-213a-4e5a-8e26-6cce9662f132', rootHash: 'a'.repeat(64) };
const B = { partuuid: 'e03dd35c-7c2d-4a47-b3fe-27f15780a57c', rootHash: 'b'.repeat(64) };

describe('boot command line', () => {
  it("keeps Flatcar's names when one slot is filled", () => {
    const line = formatCmdline({ slots: { A }, hashOffset: 130023424, extra: ['console=ttyS0,115200n8'] });
    expect(line).toContain(`verity.usr=PARTUUID=${A.partuuid} verity.usrhash=${A.rootHash}`);
    expect(line).toContain(`verity.usr.A=PARTUUID=${A.partuuid} verity.usrhash.A=${A.rootHash}`);
    expect(line).toContain('mount.usr=/dev/mapper/usr');
    expect(line).toContain('verity.usrhashoffset=130023424');
    expect(line.endsWith('console=ttyS0,115200n8')).toBe(true);
  });
  it('carries both slots, each next to its partition, when both are filled', () => {
    const line = formatCmdline({ slots: { A, B }, hashOffset: 4096, extra: [] });
    expect(line).toContain(`verity.usr.B=PARTUUID=${B.partuuid} verity.usrhash.B=${B.rootHash}`);
    expect(line).not.toMatch(/verity\.usrhash=/);
  });
  it('parses what it formats, keeping the extra arguments in order', () => {
    const c = { slots: { A, B }, hashOffset: 8192, extra: ['console=ttyS0', 'quiet', 'foo=bar=baz'] };
    expect(parseCmdline(formatCmdline(c))).toEqual(c);
    const single = { slots: { B }, hashOffset: 8192, extra: ['panic=-1'] };
    expect(parseCmdline(formatCmdline(single))).toEqual(single);
  });
  it('refuses a hash that is not lowercase hex', () => {
    expect(() => formatCmdline({ slots: { A: { ...A, rootHash: 'XYZ' } }, hashOffset: 0, extra: [] })).toThrow(/hex/);
  });
});
