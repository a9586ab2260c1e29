/**
 * dm-verity judged by veritysetup: for a matrix of sizes, salts, algorithms, block sizes, hash types,
 * with and without superblock, our root hash and hash-area bytes must equal `veritysetup format`'s,
 * `veritysetup verify` must accept ours and our verify must accept theirs. Its bytes are the truth.
 */
import { describe, expect, it } from 'vitest';
import { randomFillSync } from 'node:crypto';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_VERITY_PARAMS, formatVerity, verifyVerity, verityLayout, type VerityHash } from '@imgbuild/core/verity';
import { imgbuild, tempDir, tool } from './helpers.js';

const dir = tempDir('imgbuild-verity-');
const UUID = '5f0c6a8e-1d2b-4c3a-9e8f-7a6b5c4d3e2f';

// One data file for every case (cases pick a prefix with --data-blocks): random, with a run of zero
// blocks so the memoised zero digest is exercised too.
const DATA = join(dir, 'data.bin');
const DATA_BYTES = 80 * 2 ** 20;
{
  const b = Buffer.alloc(DATA_BYTES);
  randomFillSync(b);
  b.fill(0, 300 * 4096, 700 * 4096);
  writeFileSync(DATA, b);
}

interface Case {
  blocks: number;
  dbs: number;
  hbs: number;
  hash: VerityHash;
  type: 0 | 1;
  /** hex, or '-' for none */
  salt: string;
  superblock: boolean;
  hashOffset?: number;
  jobs?: number;
}

const SALTS = ['-', 'a5', '0f'.repeat(16), Buffer.from(Array.from({ length: 256 }, (_, i) => (i * 7 + 3) & 255)).toString('hex')];
const HASHES: VerityHash[] = ['sha256', 'sha512', 'sha1'];
const SIZES: [number, number][] = [
  [512, 512],
  [4096, 4096],
  [1024, 4096],
  [4096, 512],
  [65536, 4096],
  [512, 65536],
  [4096, 1024],
  [2048, 2048],
];
const BLOCKS = [1, 127, 128, 129, 16385, 1024 /* 4 MiB at 4096: the worker path with jobs 2 */];

/** Every size with a rotation of algorithm x type x salt x block sizes, so each value meets the others. */
function matrix(): Case[] {
  const out: Case[] = [];
  let k = 0;
  for (const blocks of BLOCKS) {
    for (let j = 0; j < 8; j++, k++) {
      let [dbs, hbs] = SIZES[k % SIZES.length];
      if (blocks * dbs > DATA_BYTES) [dbs, hbs] = [4096, hbs > 4096 ? 4096 : hbs];
      if (blocks === 1024 && dbs < 4096) dbs = 4096; // a few MiB at least
      out.push({
        blocks,
        dbs,
        hbs,
        hash: HASHES[k % 3],
        type: (Math.floor(k / 3) % 2) as 0 | 1,
        salt: SALTS[Math.floor(k / 2) % 4],
        superblock: k % 5 !== 4,
        jobs: blocks === 1024 || blocks === 16385 ? 2 : 1,
      });
    }
  }
  // Hash offsets in a separate file: 512-aligned (tree at the next hash block), block aligned, no superblock.
  out.push({ blocks: 129, dbs: 4096, hbs: 4096, hash: 'sha256', type: 1, salt: SALTS[2], superblock: true, hashOffset: 512 });
  out.push({ blocks: 300, dbs: 4096, hbs: 4096, hash: 'sha256', type: 1, salt: SALTS[2], superblock: true, hashOffset: 1536 });
  out.push({ blocks: 300, dbs: 1024, hbs: 1024, hash: 'sha512', type: 0, salt: SALTS[1], superblock: true, hashOffset: 8192 });
  out.push({ blocks: 300, dbs: 4096, hbs: 4096, hash: 'sha1', type: 1, salt: SALTS[0], superblock: false, hashOffset: 8192 });
  return out;
}

function name(c: Case): string {
  const salt = c.salt === '-' ? 'no salt' : `${c.salt.length / 2}-byte salt`;
  return `${c.blocks} x ${c.dbs}, hash blocks ${c.hbs}, ${c.hash}, type ${c.type}, ${salt}${c.superblock ? '' : ', no superblock'}${c.hashOffset ? `, hash offset ${c.hashOffset}` : ''}`;
}

/** veritysetup arguments for the tree parameters of a case (format and verify alike). */
function vsParams(c: Case): string[] {
  return [
    `--hash=${c.hash}`,
    `--format=${c.type}`,
    `--data-block-size=${c.dbs}`,
    `--hash-block-size=${c.hbs}`,
    `--data-blocks=${c.blocks}`,
    `--salt=${c.salt}`,
    ...(c.hashOffset ? [`--hash-offset=${c.hashOffset}`] : []),
    ...(c.superblock ? [] : ['--no-superblock']),
  ];
}

const rootOf = (out: unknown) => /Root hash:\s+([0-9a-f]+)/.exec(String(out))![1];

describe('formatVerity is byte-identical to veritysetup format', () => {
  const cases = matrix();
  it.each(cases.map((c, i) => [name(c), c, i] as const))('%s', async (_n, c, i) => {
    const theirs = join(dir, `theirs-${i}`);
    const ours = join(dir, `ours-${i}`);
    const vs = await tool('veritysetup', ['format', ...vsParams(c), ...(c.superblock ? [`--uuid=${UUID}`] : []), DATA, theirs]);
    const root = rootOf(vs.stdout);
    const r = await formatVerity({
      dataPath: DATA,
      hashPath: ours,
      dataBlocks: c.blocks,
      hashOffset: c.hashOffset,
      params: { hash: c.hash, hashType: c.type, dataBlockSize: c.dbs, hashBlockSize: c.hbs, superblock: c.superblock },
      salt: c.salt === '-' ? null : Buffer.from(c.salt, 'hex'),
      uuid: UUID,
      jobs: c.jobs,
    });
    expect(r.rootHash).toBe(root);
    const a = readFileSync(ours);
    const b = readFileSync(theirs);
    expect(a.length).toBe(b.length);
    expect(a.equals(b)).toBe(true);
    // veritysetup prints the area size only sometimes; with no tree its file is shorter than the area.
    const printed = /Hash device size:\s+(\d+)/.exec(String(vs.stdout));
    expect(r.hashAreaSize).toBe(printed ? Number(printed[1]) : b.length - (c.hashOffset ?? 0));

    // Each accepts the other's.
    await tool('veritysetup', ['verify', ...vsParams(c), DATA, ours, root]);
    const v = await verifyVerity({
      dataPath: DATA,
      hashPath: theirs,
      hashOffset: c.hashOffset,
      rootHash: root,
      dataBlocks: c.blocks,
      ...(c.superblock ? {} : { params: { hash: c.hash, hashType: c.type, dataBlockSize: c.dbs, hashBlockSize: c.hbs, superblock: false }, salt: c.salt === '-' ? null : Buffer.from(c.salt, 'hex') }),
      jobs: c.jobs,
    });
    expect(v).toMatchObject({ ok: true, rootHash: root, dataBlocks: c.blocks });
    rmSync(ours);
    rmSync(theirs);
  });

  it('covers every algorithm, hash type, salt and block size in the matrix', () => {
    const cs = matrix();
    for (const h of HASHES) for (const t of [0, 1]) expect(cs.some((c) => c.hash === h && c.type === t)).toBe(true);
    for (const s of SALTS) expect(cs.some((c) => c.salt === s)).toBe(true);
    for (const [d, h] of SIZES) expect(cs.some((c) => c.dbs === d && c.hbs === h)).toBe(true);
    expect(cs.some((c) => c.blocks === 1 && !c.superblock)).toBe(true);
  });
});

describe('the Flatcar layout: data and hash area in one file', () => {
  it('matches veritysetup format --hash-offset=<data size> on the same file, both ways verified', async () => {
    const blocks = 2000;
    const src = readFileSync(DATA).subarray(0, blocks * 4096);
    const ours = join(dir, 'flatcar-ours.img');
    const theirs = join(dir, 'flatcar-theirs.img');
    writeFileSync(ours, src);
    writeFileSync(theirs, src);
    const off = blocks * 4096;
    const salt = '3c'.repeat(32);
    const vs = await tool('veritysetup', ['format', `--hash-offset=${off}`, `--data-blocks=${blocks}`, `--salt=${salt}`, `--uuid=${UUID}`, theirs, theirs]);
    const root = rootOf(vs.stdout);
    // The CLI, as a build script would call it: hash area right after the data.
    const cli = await imgbuild(['verity', 'format', ours, '--hash-offset', String(off), '--salt', salt, '--uuid', UUID, '--force', '--json']);
    expect(cli.exitCode, String(cli.stderr)).toBe(0);
    const out = JSON.parse(String(cli.stdout));
    expect(out).toMatchObject({ rootHash: root, hashOffset: off, dataBlocks: blocks, salt, uuid: UUID, dataBlockSize: 4096, hashBlockSize: 4096, hash: 'sha256', hashType: 1 });
    expect(readFileSync(ours).equals(readFileSync(theirs))).toBe(true);
    await tool('veritysetup', ['verify', `--hash-offset=${off}`, ours, ours, root]);
    const v = await imgbuild(['verity-verify', theirs, '--hash-offset', String(off), '--root-hash', root]);
    expect(v.exitCode, String(v.stderr)).toBe(0);
  });
});

describe('a partition inside a disk image', () => {
  it('formats and verifies a byte range in place; veritysetup agrees on the extracted range', async () => {
    const img = join(dir, 'disk.img');
    const start = 1024 * 1024;
    const blocks = 1500;
    const full = Buffer.alloc(start + blocks * 4096 + 4 * 2 ** 20, 0x77);
    readFileSync(DATA).copy(full, start, 0, blocks * 4096);
    writeFileSync(img, full);
    const hashOffset = start + blocks * 4096;
    const salt = Buffer.alloc(32, 9);
    const r = await formatVerity({ dataPath: img, dataOffset: start, dataBlocks: blocks, hashOffset, salt, uuid: UUID, jobs: 2 });
    const part = join(dir, 'part.img');
    writeFileSync(part, readFileSync(img).subarray(start));
    await tool('veritysetup', ['verify', `--hash-offset=${blocks * 4096}`, part, part, r.rootHash]);
    const copy = join(dir, 'part-data.img');
    copyFileSync(part, copy);
    const vs = await tool('veritysetup', ['format', `--data-blocks=${blocks}`, `--salt=${salt.toString('hex')}`, `--uuid=${UUID}`, copy, join(dir, 'part.hash')]);
    expect(rootOf(vs.stdout)).toBe(r.rootHash);
    expect(await verifyVerity({ dataPath: img, dataOffset: start, hashOffset, rootHash: r.rootHash })).toMatchObject({ ok: true });
  });
});

describe('verification in worker threads', () => {
  it('reports the lowest bad block whichever thread finds one first, and bad leaf hashes as hash', async () => {
    const blocks = 5000; // 20 MiB: five units, shared between the main thread and a worker
    const img = join(dir, 'threads.img');
    writeFileSync(img, readFileSync(DATA).subarray(0, blocks * 4096));
    const h = join(dir, 'threads.hash');
    const r = await formatVerity({ dataPath: img, hashPath: h, salt: null, jobs: 2 });
    const flip = (file: string, at: number) => {
      const b = readFileSync(file);
      b[at] ^= 0x80;
      writeFileSync(file, b);
    };
    flip(img, 4321 * 4096 + 5);
    flip(img, 1234 * 4096 + 9);
    expect(await verifyVerity({ dataPath: img, hashPath: h, rootHash: r.rootHash, jobs: 2 })).toMatchObject({ ok: false, region: 'data', index: 1234 });
    flip(img, 4321 * 4096 + 5);
    flip(img, 1234 * 4096 + 9);
    const leaf = verityLayoutFor(r.dataBlocks);
    flip(h, leaf + 30 * 4096 + 100); // leaf hash block 30
    expect(await verifyVerity({ dataPath: img, hashPath: h, rootHash: r.rootHash, jobs: 2 })).toMatchObject({ ok: false, region: 'hash', level: 0, index: 30 });
  });
});

/** Absolute offset of the leaf level for a default-parameter tree at hash offset 0. */
function verityLayoutFor(blocks: number): number {
  return verityLayout(blocks, DEFAULT_VERITY_PARAMS, 0).levelOffsets[0];
}
