/**
 * The squashfs superblock decoder on real mksquashfs images: the values it reads agree with
 * `unsquashfs -s`, and every corruption is refused with a message naming it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CorruptError } from '../errors.js';
import { decodeSquashfsSuperblock } from './squashfs.js';

const dir = mkdtempSync(join(tmpdir(), 'imgbuild-squashfs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const MKFS_TIME = 1700000000;

/** A small /usr: a few files (one spanning several blocks), a folder, a symlink. */
function makeTree(): string {
  const tree = join(dir, 'tree');
  mkdirSync(join(tree, 'lib'), { recursive: true });
  mkdirSync(join(tree, 'bin'));
  writeFileSync(join(tree, 'lib/os-release'), 'ID=test\nVERSION_ID=1\n');
  writeFileSync(join(tree, 'bin/tool'), randomBytes(300_000)); // incompressible: real data blocks
  writeFileSync(join(tree, 'bin/small'), 'x'.repeat(1000)); // ends up in a fragment
  symlinkSync('../lib/os-release', join(tree, 'bin/link'));
  return tree;
}

function mksquashfs(tree: string, name: string, extra: string[]): Buffer {
  const out = join(dir, name);
  execFileSync('mksquashfs', [tree, out, '-noappend', '-all-root', '-quiet', '-no-progress', '-mkfs-time', String(MKFS_TIME), '-all-time', String(MKFS_TIME), ...extra]);
  return readFileSync(out);
}

/** `unsquashfs -s` as an independent judge of the superblock's fields. */
function unsquashfsSummary(name: string): Record<string, string> {
  const out = execFileSync('unsquashfs', ['-s', join(dir, name)], { encoding: 'utf8' });
  const get = (re: RegExp) => re.exec(out)?.[1] ?? '';
  return {
    bytes: get(/^Filesystem size (\d+) bytes/m),
    compression: get(/^Compression (\w+)/m),
    blockSize: get(/^Block size (\d+)/m),
    fragments: get(/^Number of fragments (\d+)/m),
    inodes: get(/^Number of inodes (\d+)/m),
    ids: get(/^Number of ids (\d+)/m),
  };
}

let padded: Buffer; // defaults: gzip, 128 KiB blocks, padded to 4 KiB
let nopad: Buffer; // xz, 4 KiB blocks, no padding: the file ends where the filesystem does
let bare: Buffer; // zstd, no export (lookup) table, no fragments: the optional tables absent

beforeAll(() => {
  const tree = makeTree();
  padded = mksquashfs(tree, 'padded.sqfs', []);
  nopad = mksquashfs(tree, 'nopad.sqfs', ['-nopad', '-comp', 'xz', '-b', '4096']);
  bare = mksquashfs(tree, 'bare.sqfs', ['-comp', 'zstd', '-no-exports', '-no-fragments', '-b', '1M']);
});

/** A copy of `img` with `edit` applied, decoded as if it were the whole file. */
function decodeEdited(img: Buffer, edit: (b: Buffer) => void): () => unknown {
  const b = Buffer.from(img);
  edit(b);
  return () => decodeSquashfsSuperblock(b, b.length, 'usr.sqfs');
}

describe('valid images', () => {
  it.each([
    ['padded.sqfs', () => padded],
    ['nopad.sqfs', () => nopad],
    ['bare.sqfs', () => bare],
  ])('%s decodes to what unsquashfs -s reports', (name, img) => {
    const sb = decodeSquashfsSuperblock(img(), img().length);
    const judge = unsquashfsSummary(name);
    expect({
      bytes: String(sb.bytesUsed),
      compression: sb.compression,
      blockSize: String(sb.blockSize),
      fragments: String(sb.fragmentCount),
      inodes: String(sb.inodeCount),
      ids: String(sb.idCount),
    }).toEqual(judge);
    expect(sb.mkfsTime).toBe(MKFS_TIME);
    expect(sb.inodeCount).toBe(7); // root, lib, bin, 3 files, 1 symlink
  });

  it('leaves absent optional tables out', () => {
    const t = decodeSquashfsSuperblock(bare, bare.length).tables;
    expect(Object.keys(t).sort()).toEqual(['directory', 'id', 'inode']);
    expect(Object.keys(decodeSquashfsSuperblock(padded, padded.length).tables).sort()).toEqual(['directory', 'fragment', 'id', 'inode', 'lookup']);
  });

  it('reads the filesystem length, not the padded file length', () => {
    const sb = decodeSquashfsSuperblock(padded, padded.length);
    expect(padded.length % 4096).toBe(0);
    expect(sb.bytesUsed).toBeLessThan(padded.length);
    expect(decodeSquashfsSuperblock(nopad, nopad.length).bytesUsed).toBe(nopad.length);
  });

  it('accepts a padded image cut inside its padding only: every filesystem byte is still there', () => {
    const sb = decodeSquashfsSuperblock(padded, padded.length);
    expect(decodeSquashfsSuperblock(padded, sb.bytesUsed).bytesUsed).toBe(sb.bytesUsed);
  });
});

describe('refusals', () => {
  it('truncated by 1 byte', () => {
    const n = nopad.length;
    const cut = nopad.subarray(0, n - 1);
    expect(() => decodeSquashfsSuperblock(cut, cut.length)).toThrow(`squashfs: truncated: superblock says ${n} bytes, file has ${n - 1}`);
  });

  it('truncated by half', () => {
    const used = decodeSquashfsSuperblock(padded, padded.length).bytesUsed;
    const half = Math.floor(padded.length / 2);
    expect(() => decodeSquashfsSuperblock(padded.subarray(0, half), half)).toThrow(`truncated: superblock says ${used} bytes, file has ${half}`);
  });

  it('cut inside the superblock', () => {
    expect(() => decodeSquashfsSuperblock(nopad.subarray(0, 50), 50)).toThrow('truncated: only 50 bytes, the superblock alone is 96');
  });

  it('bytes_used beyond the file', () => {
    const n = nopad.length;
    expect(decodeEdited(nopad, (b) => b.writeBigUInt64LE(BigInt(n + 4096), 40))).toThrow(`truncated: superblock says ${n + 4096} bytes, file has ${n}`);
  });

  it('wrong version', () => {
    expect(decodeEdited(nopad, (b) => b.writeUInt16LE(3, 28))).toThrow('unsupported version 3.0');
    expect(decodeEdited(nopad, (b) => b.writeUInt16LE(1, 30))).toThrow('unsupported version 4.1');
  });

  it('bad block_size, and block_log out of step with it', () => {
    expect(decodeEdited(nopad, (b) => b.writeUInt32LE(3000, 12))).toThrow('bad block_size 3000');
    expect(decodeEdited(nopad, (b) => b.writeUInt32LE(2 << 20, 12))).toThrow(`bad block_size ${2 << 20}`);
    expect(decodeEdited(nopad, (b) => b.writeUInt32LE(2048, 12))).toThrow('bad block_size 2048');
    expect(decodeEdited(nopad, (b) => b.writeUInt16LE(13, 22))).toThrow('block_log 13 does not match block_size 4096');
  });

  it('unknown compression', () => {
    expect(decodeEdited(nopad, (b) => b.writeUInt16LE(9, 20))).toThrow('unknown compression id 9');
  });

  it('no inodes, no ids', () => {
    expect(decodeEdited(nopad, (b) => b.writeUInt32LE(0, 4))).toThrow('inode count is 0');
    expect(decodeEdited(nopad, (b) => b.writeUInt16LE(0, 26))).toThrow('id count is 0');
  });

  it('inode table start beyond bytes_used', () => {
    const used = BigInt(nopad.length);
    expect(decodeEdited(nopad, (b) => b.writeBigUInt64LE(used + 10n, 64))).toThrow(`inode table starts at ${used + 10n}, beyond bytes_used ${used}`);
  });

  it('tables out of order or overlapping', () => {
    const sb = decodeSquashfsSuperblock(nopad, nopad.length);
    // Directory table before the inode table.
    expect(decodeEdited(nopad, (b) => b.writeBigUInt64LE(BigInt(sb.tables.inode - 1), 72))).toThrow(/inode table at \d+ runs into directory table/);
    // The id index (8 bytes) would run past the end of the filesystem.
    expect(decodeEdited(nopad, (b) => b.writeBigUInt64LE(BigInt(nopad.length - 4), 48))).toThrow(/id table at \d+ runs into the end of the filesystem/);
    // A table starting inside the superblock.
    expect(decodeEdited(nopad, (b) => b.writeBigUInt64LE(10n, 64))).toThrow('inode table starts at 10, inside the superblock');
  });

  it('root inode outside the inode table', () => {
    const sb = decodeSquashfsSuperblock(nopad, nopad.length);
    const past = BigInt(sb.tables.directory - sb.tables.inode);
    expect(decodeEdited(nopad, (b) => b.writeBigUInt64LE(past << 16n, 32))).toThrow(`root inode (block ${past}, offset 0) lies outside the inode table (${sb.tables.inode}..${sb.tables.directory})`);
    expect(decodeEdited(nopad, (b) => b.writeBigUInt64LE(9000n, 32))).toThrow('root inode (block 0, offset 9000) lies outside the inode table');
  });

  it('throws CorruptError naming the file', () => {
    const e = (() => {
      try {
        decodeEdited(nopad, (b) => b.writeUInt16LE(9, 20))();
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(CorruptError);
    expect((e as CorruptError).file).toBe('usr.sqfs');
  });
});
