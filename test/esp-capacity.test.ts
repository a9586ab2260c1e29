/**
 * espGeometry / espCapacityBytes / espBytesNeeded against the real thing: the ESP that makeEsp formats
 * with mkfs.vfat, its geometry as minfo reads it and its free space as mdir counts it, at sizes that
 * give each cluster size, in images small (32-sector tracks) and large (63), at odd offsets, and never
 * past the end of the partition.
 */
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { writeFileSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { espBytesNeeded, espCapacityBytes, espGeometry, makeEsp, type EspFile } from '../packages/core/src/boot/index.js';
import { tempDir, tool } from './helpers.js';

const dir = tempDir('imgbuild-esp-capacity-');
const MiB = 1024 * 1024;
const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', MTOOLS_SKIP_CHECK: '1', MTOOLSRC: '/dev/null', LC_ALL: 'C' };

async function measure(image: string, offsetBytes: number): Promise<{ sectors: number; fatSectors: number; free: number }> {
  const drive = `${image}@@${offsetBytes}`;
  const info = String((await tool('minfo', ['-i', drive, '::'], { env, extendEnv: false })).stdout);
  const list = String((await tool('mdir', ['-i', drive, '::'], { env, extendEnv: false })).stdout);
  return {
    sectors: Number(/big size: (\d+)/.exec(info)![1]),
    fatSectors: Number(/Big fatlen=(\d+)/.exec(info)![1]),
    free: Number(/([\d ]+) bytes free/.exec(list)![1].replace(/ /g, '')),
  };
}

const files: EspFile[] = [
  { path: 'EFI/BOOT/BOOTX64.EFI', data: randomBytes(300_001) },
  { path: 'EFI/Linux/imgbuild-usr-a.efi', data: randomBytes(70_000) }, // a long name: 3 entries
  { path: 'loader/loader.conf', data: Buffer.from('timeout 0\n') },
  { path: 'README.TXT', data: Buffer.alloc(0) }, // no cluster at all
];
const sizes = files.map((f) => ({ path: f.path, size: f.data.length }));

describe.each([
  // [ESP bytes, offset bytes, image bytes]: 512 B, 1 KiB, 2 KiB and 4 KiB clusters; 32- and 63-sector tracks
  [33 * MiB, 1 * MiB, 40 * MiB],
  [64 * MiB, 2 * MiB, 382 * MiB],
  [100 * MiB + 512, 1 * MiB + 512, 200 * MiB + 3 * 512],
  [300 * MiB, 2 * MiB, 400 * MiB],
  // An even-sector ESP whose file rest is odd, where mkfs.fat's odd sector lands on a whole 63-sector
  // track: without mkfsBlockCount's correction the file system ends one sector past the partition.
  [68480 * 512, 1 * MiB, 300 * MiB + 512],
])('ESP of %d bytes at %d in a %d-byte image', (sizeBytes, offsetBytes, imageBytes) => {
  it('geometry and free space are what mkfs.vfat and mdir say, before and after the files', async () => {
    const image = join(dir, `esp-${sizeBytes}.img`);
    writeFileSync(image, '');
    truncateSync(image, imageBytes);
    const where = { imageBytes, offsetBytes };
    const g = espGeometry(sizeBytes, where);

    await makeEsp({ image, offsetBytes, sizeBytes, volumeId: 1, files: [], sourceDateEpoch: 1700000000, rangeIsZero: true });
    const empty = await measure(image, offsetBytes);
    expect(empty.sectors * 512).toBeLessThanOrEqual(sizeBytes); // the file system stays inside its partition
    expect({ sectors: g.sectors, fatSectors: g.fatSectors, free: espCapacityBytes(sizeBytes, where) }).toEqual(empty);

    await makeEsp({ image, offsetBytes, sizeBytes, volumeId: 1, files, sourceDateEpoch: 1700000000 });
    const full = await measure(image, offsetBytes);
    expect(full.free).toBe(espCapacityBytes(sizeBytes, where) - espBytesNeeded(sizes, g.clusterBytes));
  });
});

describe('espBytesNeeded', () => {
  it('rounds files up to clusters and counts folders', () => {
    expect(espBytesNeeded([], 4096)).toBe(0);
    expect(espBytesNeeded([{ path: 'A.EFI', size: 1 }], 4096)).toBe(4096);
    // EFI/ and EFI/BOOT/ take one cluster each; the file two.
    expect(espBytesNeeded([{ path: 'EFI/BOOT/BOOTX64.EFI', size: 4097 }], 4096)).toBe(4 * 4096);
    // 40 22-character names in the root of a 512-byte-cluster ESP: 1 label + 40 * (1 + 2) entries =
    // 121 * 32 bytes = 8 clusters, the first already counted by espCapacityBytes.
    const names = Array.from({ length: 40 }, (_, i) => ({ path: `${'x'.repeat(20)}${String(i).padStart(2, '0')}`, size: 0 }));
    expect(espBytesNeeded(names, 512)).toBe(7 * 512);
  });
});
