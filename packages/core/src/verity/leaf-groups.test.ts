/**
 * A slot tree's leaf level as the image digest's entries: equal to hashing the data's groups, taken
 * only when it hashes up to the root, and only from trees of the digest's kind.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, rmSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_VERITY_PARAMS, verityLayout } from './geometry.js';
import { formatVerity } from './format.js';
import { leafGroups, sharesDigestLeaves } from './leaf-groups.js';

const dir = mkdtempSync(join(tmpdir(), 'imgbuild-leaf-groups-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sha = (b: Buffer) => createHash('sha256').update(b).digest();

/** The digest's entry of each whole group of `data`, computed from the data itself. */
function groupEntries(data: Buffer): Buffer {
  const whole = Math.floor(data.length / 4096 / 128);
  const out: Buffer[] = [];
  for (let g = 0; g < whole; g++) {
    const hb = Buffer.concat(Array.from({ length: 128 }, (_, i) => sha(data.subarray((g * 128 + i) * 4096, (g * 128 + i + 1) * 4096))));
    out.push(sha(hb));
  }
  return Buffer.concat(out);
}

describe('leaf groups', () => {
  // 3 whole groups and a partial one; blocks of zeros among them (hashed by lookup in the engine).
  const blocks = 3 * 128 + 77;
  const data = randomBytes(blocks * 4096);
  data.fill(0, 5 * 4096, 9 * 4096);
  const dataPath = join(dir, 'usr.data');
  writeFileSync(dataPath, data);

  it('equal the groups hashed from the data, for every tree height', async () => {
    for (const n of [blocks, 128, 128 * 129 + 1]) {
      const d = n === blocks ? data : randomBytes(n * 4096);
      const p = join(dir, `d${n}`);
      writeFileSync(p, d);
      const hash = join(dir, `d${n}.hash`);
      const r = await formatVerity({ dataPath: p, hashPath: hash, salt: null, jobs: 1 });
      const layout = verityLayout(n, DEFAULT_VERITY_PARAMS, 0);
      expect(sharesDigestLeaves(layout, r.salt, 0)).toBe(true);
      const set = leafGroups(hash, layout, 0, r.rootHash)!;
      expect(set.ranges).toEqual([[0, Math.floor(n / 128)]]);
      expect(Buffer.from(set.digests).equals(groupEntries(d))).toBe(true);
      // At an image offset of a whole number of groups, the ranges move with it.
      expect(leafGroups(hash, layout, 7 * 128 * 4096, r.rootHash)!.ranges).toEqual([[7, 7 + Math.floor(n / 128)]]);
    }
  });

  it('are refused when the leaf level does not hash up to the root hash', async () => {
    const hash = join(dir, 'tampered.hash');
    const r = await formatVerity({ dataPath, hashPath: hash, salt: null, jobs: 1 });
    const layout = verityLayout(blocks, DEFAULT_VERITY_PARAMS, 0);
    expect(leafGroups(hash, layout, 0, r.rootHash)).not.toBeNull();
    const fd = openSync(hash, 'r+');
    writeSync(fd, Buffer.from([0x5a]), 0, 1, layout.levelOffsets[0] + 4096 + 17);
    closeSync(fd);
    expect(leafGroups(hash, layout, 0, r.rootHash)).toBeNull();
    expect(leafGroups(join(dir, 'usr.data'), layout, 0, 'ab'.repeat(32))).toBeNull();
  });

  it('come only from trees of the digest\'s kind, at a group boundary', () => {
    const layout = verityLayout(blocks, DEFAULT_VERITY_PARAMS, 0);
    expect(sharesDigestLeaves(layout, '11'.repeat(32), 0)).toBe(false); // salted
    expect(sharesDigestLeaves(layout, '', 4096)).toBe(false); // data not on a group boundary
    expect(sharesDigestLeaves(verityLayout(blocks, { ...DEFAULT_VERITY_PARAMS, hash: 'sha512' }, 0), '', 0)).toBe(false);
    expect(sharesDigestLeaves(verityLayout(blocks, { ...DEFAULT_VERITY_PARAMS, hashType: 0 }, 0), '', 0)).toBe(false);
    expect(sharesDigestLeaves(verityLayout(1, DEFAULT_VERITY_PARAMS, 0), '', 0)).toBe(false); // no tree at all
  });
});
