/** The ESP writer's pure parts; the tool-driven behaviour is judged in test/esp.test.ts. */
import { describe, expect, it } from 'vitest';
import { InputError } from '../errors.js';
import { ESP_BOOT_PATH, ESP_DEFAULT_LABEL, ESP_MIN_BYTES, espVolumeId, makeEsp } from './esp.js';
import { sectorsPerCluster } from './esp-geometry.js';

const MiB = 1024 * 1024;

describe('ESP constants and helpers', () => {
  it('constants', () => {
    expect(ESP_BOOT_PATH).toBe('EFI/BOOT/BOOTX64.EFI');
    expect(ESP_DEFAULT_LABEL.length).toBeLessThanOrEqual(11);
    expect(ESP_MIN_BYTES).toBe(33 * MiB);
  });

  it('espVolumeId: deterministic, 32-bit, seed-dependent', () => {
    expect(espVolumeId('a')).toBe(espVolumeId('a'));
    expect(espVolumeId('a')).not.toBe(espVolumeId('b'));
    expect(espVolumeId('a')).toBe(0xca978112); // first 4 bytes of sha256("a")
    for (const s of ['', 'x', 'imgbuild']) {
      expect(Number.isInteger(espVolumeId(s))).toBe(true);
      expect(espVolumeId(s)).toBeGreaterThanOrEqual(0);
      expect(espVolumeId(s)).toBeLessThanOrEqual(0xffffffff);
    }
  });

  it('sectorsPerCluster: 512 B clusters for small ESPs, 4 KiB once FAT32 stays above 65525 clusters', () => {
    expect(sectorsPerCluster(33 * MiB)).toBe(1);
    expect(sectorsPerCluster(64 * MiB)).toBe(1);
    expect(sectorsPerCluster(100 * MiB)).toBe(2);
    expect(sectorsPerCluster(256 * MiB)).toBe(4);
    expect(sectorsPerCluster(257 * MiB)).toBe(8);
    expect(sectorsPerCluster(4096 * MiB)).toBe(8);
    for (let mib = 33; mib <= 2048; mib++) {
      const spc = sectorsPerCluster(mib * MiB);
      const sectors = mib * 2048;
      // A pessimistic FAT32 layout: 32 reserved sectors, two FATs covering every sector, one cluster of alignment.
      const fat = Math.ceil(((sectors / spc + 2) * 4) / 512);
      expect(Math.floor((sectors - 32 - spc - 2 * fat) / spc), `${mib} MiB`).toBeGreaterThanOrEqual(65525);
    }
  });
});

describe('makeEsp validation (before any tool runs or byte is written)', () => {
  const base = { image: '/nonexistent/disk.img', offsetBytes: MiB, sizeBytes: 64 * MiB, volumeId: 1, files: [] as Array<{ path: string; data: Buffer }>, sourceDateEpoch: 1700000000 };
  const cases: Array<[string, Partial<typeof base> & { label?: string; files?: Array<{ path: string; data: Buffer }> }, RegExp]> = [
    ['offset not sector aligned', { offsetBytes: 100 }, /multiple of 512/],
    ['size not sector aligned', { sizeBytes: 64 * MiB + 1 }, /multiple of 512/],
    ['too small', { sizeBytes: 32 * MiB }, /too small for FAT32/],
    ['volume id too big', { volumeId: 2 ** 32 }, /32-bit/],
    ['negative volume id', { volumeId: -1 }, /32-bit/],
    ['label too long', { label: 'ABCDEFGHIJKL' }, /FAT label/],
    ['label lower case', { label: 'esp' }, /FAT label/],
    ['time before 1980', { sourceDateEpoch: 1000 }, /FAT can store/],
    ['fractional time', { sourceDateEpoch: 1700000000.5 }, /FAT can store/],
    ['absolute path', { files: [{ path: '/EFI/x', data: Buffer.alloc(0) }] }, /relative/],
    ['dot-dot', { files: [{ path: 'EFI/../x', data: Buffer.alloc(0) }] }, /"\."/],
    ['non-ASCII', { files: [{ path: 'EFI/ünï', data: Buffer.alloc(0) }] }, /printable ASCII/],
    ['glob character', { files: [{ path: 'EFI/[x]', data: Buffer.alloc(0) }] }, /printable ASCII/],
    ['trailing space', { files: [{ path: 'EFI/x ', data: Buffer.alloc(0) }] }, /ends with/],
    ['case-insensitive duplicate', { files: [{ path: 'a/B', data: Buffer.alloc(0) }, { path: 'A/b', data: Buffer.alloc(0) }] }, /twice/],
    ['file and folder', { files: [{ path: 'a', data: Buffer.alloc(0) }, { path: 'A/b', data: Buffer.alloc(0) }] }, /both a file and a folder/],
    ['image path with @@', { image: '/tmp/a@@b.img' }, /@@/],
    ['missing image', {}, /cannot open image/],
  ];
  it.each(cases)('%s', async (_name, patch, re) => {
    const e = await makeEsp({ ...base, ...patch }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(InputError);
    expect((e as Error).message).toMatch(re);
    expect((e as Error).message).not.toContain('\n');
  });
});
