import { describe, expect, it } from 'vitest';
import { parseManifestJson } from './parse.js';
import { encodeManifest } from './manifest.js';

const H = (c: string) => c.repeat(64);
const G = (c: string) => `${c.repeat(8)}-${c.repeat(4)}-4${c.repeat(3)}-8${c.repeat(3)}-${c.repeat(12)}`;

/** A version-1 manifest as imgbuild 0.1 wrote it. */
function v1(): any {
  return {
    manifestVersion: 1, tool: 'imgbuild 0.1.0', format: 'raw', layout: 'mini', seed: 's', sourceDateEpoch: 315532800,
    disk: { guid: G('a'), sectorSize: 512, totalSectors: 782336, bytes: 400556032 },
    partitions: [
      { number: 1, label: 'EFI-SYSTEM', type: G('c'), uuid: G('1'), startLba: 4096, sizeBytes: 67108864, role: 'esp' },
      { number: 3, label: 'USR-A', type: G('5'), uuid: G('3'), startLba: 139264, sizeBytes: 134217728, role: 'usr-slot' },
    ],
    slots: { A: { partition: 3, label: 'USR-A', partuuid: G('3'), rootHash: H('b'), salt: H('c'), hashOffset: 133160960, hashAreaSize: 16384, dataBlocks: 185, dataBytes: 757760, fsType: 'squashfs', source: { name: 'usr.sqfs', sha256: H('d'), bytes: 757760 } } },
    boot: { style: 'uki', espPath: 'EFI/BOOT/BOOTX64.EFI', cmdline: 'x', kernelSha256: H('e'), initrdSha256: H('f'), ukiSha256: H('1') },
    image: { name: 'disk.raw', sha256: H('2'), bytes: 400556032 },
    history: [{ action: 'build', slot: 'A', rootHash: H('b'), at: 315532800 }],
  };
}

const parse = (j: unknown) => parseManifestJson(JSON.stringify(j), 'm.json');

describe('manifest schema', () => {
  it('reads version 1 and upgrades it in memory: LBAs, verity defaults, nothing recorded', () => {
    const m = parse(v1());
    expect(m.manifestVersion).toBe(2);
    expect(m.upgradedFrom).toBe(1);
    expect(m.partitions[1]).toEqual({ number: 3, uuid: G('3'), label: 'USR-A', type: G('5'), firstLba: 139264, lastLba: 401407, role: 'usr-slot' });
    expect(m.slots.A).toMatchObject({ hash: 'sha256', hashType: 1, dataBlockSize: 4096, hashBlockSize: 4096, dataBlocks: 185 });
    expect(m.slots.A!.superblockUuid).toBeUndefined();
    expect(m.gpt).toBeUndefined();
    // Written back, it must be version 2 with every region: an upgraded manifest alone is refused.
    expect(() => encodeManifest(m)).toThrow(/protectiveMbr/);
  });

  it('names the key path and the value found, never "undefined"', () => {
    const bad = (edit: (j: any) => void) => {
      const j = v1();
      edit(j);
      try {
        parse(j);
      } catch (e) {
        expect((e as Error).message).not.toMatch(/undefined/);
        return (e as Error).message;
      }
      throw new Error('accepted');
    };
    expect(bad((j) => (j.slots.A.salt = 12))).toBe('slots.A.salt: expected a hex string, got 12');
    expect(bad((j) => (j.slots.A.salt = 'xyz'))).toBe('slots.A.salt: expected a hex string, got "xyz"');
    expect(bad((j) => delete j.slots.A.dataBlocks)).toBe('slots.A.dataBlocks: missing (expected a non-negative integer)');
    expect(bad((j) => (j.slots.A.bogus = 1))).toBe('slots.A: unknown key "bogus"');
    expect(bad((j) => (j.extra = 1))).toBe('unknown key "extra"');
    expect(bad((j) => (j.partitions = {}))).toBe('partitions: expected an array, got {}');
    expect(bad((j) => (j.slots.C = j.slots.A))).toBe('slots: unknown key "C"');
    expect(bad((j) => (j.format = 'vmdk'))).toBe('format: expected "raw" or "qemu_uefi", got "vmdk"');
    expect(bad((j) => delete j.manifestVersion)).toBe('manifestVersion: expected 1 or 2, missing');
    expect(bad((j) => Object.assign(j.slots.A, { salt: 1, rootHash: 2 }))).toMatch(/\(and 1 more\)$/);
  });

  it('refuses JSON that is not an object', () => {
    expect(() => parseManifestJson('[1]', 'm.json')).toThrow(/manifestVersion: expected 1 or 2, not an object: \[1\]/);
    expect(() => parseManifestJson('{', 'm.json')).toThrow(/not valid JSON/);
  });
});
