/**
 * In-process properties of formatVerity/verifyVerity (no external tools; the byte-for-byte comparison
 * with veritysetup lives in test/verity.test.ts):
 *   - one flipped bit anywhere in the data or the hash area is found, and the failure names the
 *     region, level and block that really changed (seeded PRNG: a failure prints its seed and trial);
 *   - a byte range inside a larger file gives the same tree as the extracted range;
 *   - inputs are checked before anything is written;
 *   - the copy (copyTo) is the same bytes whether written direct or buffered.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError, UsageError } from '../errors.js';
import { verityLayout, type VerityParams } from './geometry.js';
import { formatVerity, type FormatVerityResult } from './format.js';
import { verifyVerity } from './verify.js';
import { alignedBuffer, CopyTarget } from './copy.js';

const dir = mkdtempSync(join(tmpdir(), 'imgbuild-verity-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** mulberry32: small, seedable, good enough to pick bits. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomData(rand: () => number, bytes: number, zeroBlocks: number[] = [], bs = 4096): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) b[i] = (rand() * 256) | 0;
  for (const z of zeroBlocks) b.fill(0, z * bs, (z + 1) * bs);
  return b;
}

function flipBit(path: string, byte: number, bit: number): void {
  const fd = openSync(path, 'r+');
  try {
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, byte);
    b[0] ^= 1 << bit;
    writeSync(fd, b, 0, 1, byte);
  } finally {
    closeSync(fd);
  }
}

interface Fixture {
  name: string;
  params: Partial<VerityParams>;
  blocks: number;
  salt: Buffer | null;
  /** Separate hash file, or the same file with the hash area at the end of the data. */
  sameFile: boolean;
  zeroBlocks?: number[];
}

const FIXTURES: Fixture[] = [
  // 300 blocks of 512 with 512-byte sha256 hash blocks (16 per block): 3 levels, a partial last block.
  { name: 'sha256 type 1, 512/512, 3 levels, superblock, separate', params: { dataBlockSize: 512, hashBlockSize: 512 }, blocks: 300, salt: Buffer.alloc(32, 0x3c), sameFile: false, zeroBlocks: [5, 6, 7] },
  { name: 'sha1 type 0, 1024/512, no salt, same file', params: { hash: 'sha1', hashType: 0, dataBlockSize: 1024, hashBlockSize: 512 }, blocks: 133, salt: null, sameFile: true },
  { name: 'sha512 type 1, 4096/4096, 1-byte salt, no superblock', params: { hash: 'sha512', superblock: false }, blocks: 70, salt: Buffer.from([0x99]), sameFile: false },
  { name: 'sha256, a single data block', params: {}, blocks: 1, salt: Buffer.alloc(256, 1), sameFile: false },
];

const SEED = Number(process.env.VERITY_SEED ?? 20261124);
const TRIALS_PER_FIXTURE = 260;

describe('one flipped bit is found and located', () => {
  for (const [fi, fx] of FIXTURES.entries()) {
    it(fx.name, async () => {
      const rand = prng(SEED + fi);
      const dbs = fx.params.dataBlockSize ?? 4096;
      const data = join(dir, `flip-${fi}.data`);
      writeFileSync(data, randomData(rand, fx.blocks * dbs, fx.zeroBlocks, dbs));
      const hash = fx.sameFile ? data : join(dir, `flip-${fi}.hash`);
      const uuid = '01234567-89ab-4cde-8f01-23456789abcd';
      const r: FormatVerityResult = await formatVerity({ dataPath: data, hashPath: hash, params: fx.params, salt: fx.salt, uuid, jobs: 1 });
      const layout = verityLayout(r.dataBlocks, r.params, r.hashOffset);
      // The caller knows what it formatted: pinning uuid/salt/params makes every superblock bit matter.
      const verify = () =>
        verifyVerity({ dataPath: data, hashPath: hash, hashOffset: r.hashOffset, rootHash: r.rootHash, params: r.params, salt: fx.salt, uuid: r.params.superblock ? uuid : undefined, dataBlocks: r.dataBlocks, jobs: 1 });
      expect(await verify()).toMatchObject({ ok: true, rootHash: r.rootHash });

      const dataBytes = r.dataBlocks * dbs;
      const hashBytes = layout.end - layout.hashOffset;
      for (let t = 0; t < TRIALS_PER_FIXTURE; t++) {
        const inData = hashBytes === 0 || rand() < 0.5;
        const pos = inData ? Math.floor(rand() * dataBytes) : layout.hashOffset + Math.floor(rand() * hashBytes);
        const bit = Math.floor(rand() * 8);
        const where = `seed ${SEED + fi}, trial ${t}: bit ${bit} of byte ${pos}`;
        flipBit(data === hash || inData ? data : hash, pos, bit);
        const v = await verify();
        flipBit(data === hash || inData ? data : hash, pos, bit);
        expect(v.ok, where).toBe(false);
        if (v.ok) continue;
        if (inData) {
          expect({ region: v.region, index: v.index }, where).toEqual({ region: 'data', index: Math.floor(pos / dbs) });
        } else if (pos < layout.treeOffset) {
          expect(v.region, where).toBe('superblock');
        } else {
          const level = layout.levelOffsets.findIndex((off, i) => pos >= off && pos < off + layout.levels[i].blocks * r.params.hashBlockSize);
          const index = Math.floor((pos - layout.levelOffsets[level]) / r.params.hashBlockSize);
          const top = layout.levels.length - 1;
          expect({ region: v.region, level: v.level, index: v.index }, where).toEqual(level === top ? { region: 'root', level, index: 0 } : { region: 'hash', level, index });
        }
      }
      expect(await verify()).toMatchObject({ ok: true });
    });
  }
});

describe('a byte range of a larger file', () => {
  it('has the same tree as the extracted range, and nothing outside the range is read as data', async () => {
    const rand = prng(7);
    const inner = randomData(rand, 77 * 4096, [3, 40]);
    const before = 3 * 1024 * 1024 + 512;
    const img = join(dir, 'range.img');
    writeFileSync(img, Buffer.concat([randomData(rand, before), inner, randomData(rand, 100_000)]));
    const plain = join(dir, 'range.data');
    writeFileSync(plain, inner);
    const salt = Buffer.alloc(32, 0x11);
    const uuid = '01234567-89ab-4cde-8f01-23456789abcd';
    const a = await formatVerity({ dataPath: plain, hashPath: join(dir, 'range-a.hash'), salt, uuid });
    const b = await formatVerity({ dataPath: img, dataOffset: before, dataBlocks: 77, hashPath: join(dir, 'range-b.hash'), salt, uuid });
    expect(b.rootHash).toBe(a.rootHash);
    expect(readFileSync(join(dir, 'range-b.hash')).equals(readFileSync(join(dir, 'range-a.hash')))).toBe(true);
    expect(await verifyVerity({ dataPath: img, dataOffset: before, hashPath: join(dir, 'range-a.hash'), rootHash: a.rootHash })).toMatchObject({ ok: true, dataBlocks: 77 });
  });
});

describe('bad input is refused before anything is written', () => {
  const data = join(dir, 'bad.data');
  writeFileSync(data, randomData(prng(3), 10 * 4096));
  const untouched = async (fn: () => Promise<unknown>, err: new (...a: any[]) => Error, file?: string) => {
    const before = readFileSync(data);
    const e = await fn().then(() => null, (x) => x);
    expect(e).toBeInstanceOf(err);
    if (file) expect(e.file).toBe(file);
    expect(readFileSync(data).equals(before)).toBe(true);
  };

  it('refuses a hash area overlapping the data in the same file', async () => {
    await untouched(() => formatVerity({ dataPath: data, hashOffset: 5 * 4096, dataBlocks: 10 }), InputError, data);
  });
  it('refuses data that is not a whole number of blocks, unless padding', async () => {
    const odd = join(dir, 'odd.data');
    writeFileSync(odd, Buffer.alloc(4096 + 100, 1));
    const e = await formatVerity({ dataPath: odd, hashPath: join(dir, 'odd.hash') }).catch((x) => x);
    expect(e).toBeInstanceOf(InputError);
    expect(e.file).toBe(odd);
    expect(existsSync(join(dir, 'odd.hash'))).toBe(false);
    const r = await formatVerity({ dataPath: odd, hashPath: join(dir, 'odd.hash'), pad: true, salt: null });
    expect(r.dataBlocks).toBe(2);
    const padded = join(dir, 'odd-padded.data');
    writeFileSync(padded, Buffer.concat([readFileSync(odd), Buffer.alloc(4096 - 100)]));
    expect((await formatVerity({ dataPath: padded, hashPath: join(dir, 'odd-padded.hash'), salt: null, uuid: r.uuid })).rootHash).toBe(r.rootHash);
    expect(await verifyVerity({ dataPath: odd, hashPath: join(dir, 'odd.hash'), rootHash: r.rootHash })).toMatchObject({ ok: true });
  });
  it('refuses more data blocks than the file holds, a missing file, bad offsets and parameters', async () => {
    const h = join(dir, 'never.hash');
    await untouched(() => formatVerity({ dataPath: data, hashPath: h, dataBlocks: 11 }), InputError, data);
    await untouched(() => formatVerity({ dataPath: join(dir, 'missing'), hashPath: h }), InputError, join(dir, 'missing'));
    await untouched(() => formatVerity({ dataPath: data, hashPath: h, hashOffset: 100 }), UsageError);
    await untouched(() => formatVerity({ dataPath: data, hashPath: h, params: { dataBlockSize: 1000 } }), UsageError);
    await untouched(() => formatVerity({ dataPath: data, hashPath: h, salt: Buffer.alloc(257) }), UsageError);
    await untouched(() => formatVerity({ dataPath: data, hashPath: h, hashLimit: 8191 }), InputError, h);
    await untouched(() => formatVerity({ dataPath: dir, hashPath: h }), InputError, dir);
    expect(existsSync(h)).toBe(false);
  });
  it('keeps bytes before the hash offset of an existing hash file', async () => {
    const h = join(dir, 'existing.hash');
    const junk = Buffer.alloc(8192, 0xee);
    writeFileSync(h, junk);
    const r = await formatVerity({ dataPath: data, hashPath: h, hashOffset: 8192 });
    expect(readFileSync(h).subarray(0, 8192).equals(junk)).toBe(true);
    expect(await verifyVerity({ dataPath: data, hashPath: h, hashOffset: 8192, rootHash: r.rootHash })).toMatchObject({ ok: true });
  });
});

describe('copyTo: the data written elsewhere as it is hashed', () => {
  it('writes the zero-padded blocks at the offset, seals exactly them, and names the superblock after the root', async () => {
    for (const jobs of [1, 2]) {
      const rand = prng(11 + jobs);
      const size = 2000 * 4096 + 123; // a partial last block; enough blocks for the worker threads
      const usr = join(dir, `copy-${jobs}.usr`);
      writeFileSync(usr, randomData(rand, size, [4, 1999]));
      const img = join(dir, `copy-${jobs}.img`);
      const at = 1 << 20;
      const junk = randomData(rand, at + 2001 * 4096 + 8192);
      writeFileSync(img, junk); // stale bytes where the copy goes, as in a slot being updated
      const seen: string[] = [];
      const r = await formatVerity({
        dataPath: usr,
        dataBlocks: 2001,
        pad: true,
        copyTo: { path: img, offset: at },
        hashPath: img,
        hashOffset: at + 2001 * 4096 + 4096,
        salt: null,
        uuid: (root) => (seen.push(root), '01234567-89ab-4cde-8f01-' + root.slice(0, 12)),
        jobs,
      });
      const out = readFileSync(img);
      const padded = Buffer.concat([readFileSync(usr), Buffer.alloc(2001 * 4096 - size)]);
      expect(out.subarray(at, at + padded.length).equals(padded)).toBe(true);
      expect(out.subarray(0, at).equals(junk.subarray(0, at))).toBe(true); // nothing before it
      expect(seen).toEqual([r.rootHash]);
      expect(r.uuid).toBe('01234567-89ab-4cde-8f01-' + r.rootHash.slice(0, 12));
      // The tree is the copy's: verified in place, and the same as the source's own.
      expect(await verifyVerity({ dataPath: img, dataOffset: at, hashPath: img, hashOffset: r.hashOffset, rootHash: r.rootHash })).toMatchObject({ ok: true, dataBlocks: 2001 });
      const own = await formatVerity({ dataPath: usr, pad: true, hashPath: join(dir, `copy-${jobs}.own`), salt: null });
      expect(own.rootHash).toBe(r.rootHash);
    }
  });

  it('is written past the page cache where it can be, and buffered with the same bytes where O_DIRECT refuses it', async () => {
    const img = join(dir, 'copy-target.img');
    writeFileSync(img, Buffer.alloc(64 * 4096));
    const b = alignedBuffer(8 * 4096);
    b.set(randomData(prng(21), b.length));
    const t = new CopyTarget(img, true);
    const direct = t.direct; // false only on a filesystem without O_DIRECT
    await t.write([b], 4096, true);
    expect(t.direct).toBe(direct);
    await t.write([b], 20 * 4096 + 100, true); // off the device's block size: EINVAL, then buffered
    expect(t.direct).toBe(false);
    t.close();
    const out = readFileSync(img);
    expect(out.subarray(4096, 4096 + b.length).equals(b)).toBe(true);
    expect(out.subarray(20 * 4096 + 100, 20 * 4096 + 100 + b.length).equals(b)).toBe(true);
    // The whole engine at such an offset, unsalted (direct tried, then buffered) and salted (batches
    // whose blocks are not contiguous: buffered from the start): the same copy.
    const usr = join(dir, 'copy-odd.usr');
    writeFileSync(usr, randomData(prng(22), 700 * 4096));
    for (const salt of [null, Buffer.alloc(32, 7)]) {
      writeFileSync(img, Buffer.alloc(64 * 4096));
      const hash = join(dir, `copy-odd-${salt ? 'salted' : 'unsalted'}.hash`);
      const r = await formatVerity({ dataPath: usr, copyTo: { path: img, offset: 100 }, hashPath: hash, salt, jobs: 2 });
      expect(readFileSync(img).subarray(100, 100 + 700 * 4096).equals(readFileSync(usr))).toBe(true);
      expect((await verifyVerity({ dataPath: img, dataOffset: 100, dataBlocks: 700, hashPath: hash, rootHash: r.rootHash })).ok).toBe(true);
    }
  });

  it('refuses a copy range overlapping the hash area or the data, and a missing target, before writing', async () => {
    const usr = join(dir, 'copy-bad.usr');
    writeFileSync(usr, randomData(prng(5), 10 * 4096));
    const img = join(dir, 'copy-bad.img');
    writeFileSync(img, Buffer.alloc(64 * 4096));
    const before = readFileSync(img);
    const overlapHash = formatVerity({ dataPath: usr, copyTo: { path: img, offset: 0 }, hashPath: img, hashOffset: 5 * 4096, salt: null });
    await expect(overlapHash).rejects.toThrow(/overlaps/);
    await expect(formatVerity({ dataPath: usr, copyTo: { path: usr, offset: 4096 }, hashPath: img, salt: null })).rejects.toThrow(/overlaps/);
    await expect(formatVerity({ dataPath: usr, copyTo: { path: join(dir, 'nope'), offset: 0 }, hashPath: img, hashOffset: 32 * 4096, salt: null })).rejects.toBeInstanceOf(InputError);
    expect(readFileSync(img).equals(before)).toBe(true);
  });
});
