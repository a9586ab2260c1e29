/**
 * The erofs superblock decoder on real mkfs.erofs images (skipped where erofs-utils is missing): the
 * values it reads agree with dump.erofs, and every corruption is refused with a message naming it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import CRC32C from 'crc-32/crc32c.js';
import { decodeErofsSuperblock } from './erofs.js';
import { detectFilesystem } from './detect.js';

const haveErofs = spawnSync('mkfs.erofs', ['--help']).error === undefined;
const BUILD_TIME = 1700000000;
const SB = 1024;

describe.skipIf(!haveErofs)('erofs', () => {
  let dir: string;
  let image: string;
  let img: Buffer;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'imgbuild-erofs-'));
    image = join(dir, 'usr.erofs');
    const tree = join(dir, 'tree');
    mkdirSync(join(tree, 'lib'), { recursive: true });
    writeFileSync(join(tree, 'lib/os-release'), 'ID=test\n');
    writeFileSync(join(tree, 'lib/blob'), randomBytes(100_000));
    execFileSync('mkfs.erofs', [`-T${BUILD_TIME}`, image, tree], { stdio: 'ignore' });
    img = readFileSync(image);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** dump.erofs as an independent judge of the superblock's fields. */
  function dumpErofs(): Record<string, string> {
    const out = execFileSync('dump.erofs', [image], { encoding: 'utf8' });
    const get = (re: RegExp) => re.exec(out)?.[1] ?? '';
    return {
      blocks: get(/^Filesystem blocks:\s+(\d+)/m),
      rootNid: get(/^Filesystem root nid:\s+(\d+)/m),
      inodes: get(/^Filesystem inode count:\s+(\d+)/m),
      uuid: get(/^Filesystem UUID:\s+(\S+)/m),
    };
  }

  /** The kernel's superblock checksum, recomputed after an edit so that the edit alone is judged. */
  function reseal(b: Buffer): void {
    b.writeUInt32LE(0, SB + 4);
    b.writeUInt32LE(~CRC32C.buf(b.subarray(SB, 4096)) >>> 0, SB + 4);
  }

  function decodeEdited(edit: (b: Buffer) => void, seal = true): () => unknown {
    const b = Buffer.from(img);
    edit(b);
    if (seal) reseal(b);
    return () => decodeErofsSuperblock(b, b.length);
  }

  it('decodes to what dump.erofs reports, its length is the file', () => {
    const sb = decodeErofsSuperblock(img, img.length);
    expect({ blocks: String(sb.blocks), rootNid: String(sb.rootNid), inodes: String(sb.inodeCount), uuid: sb.uuid }).toEqual(dumpErofs());
    expect(sb.blockSize).toBe(4096);
    expect(sb.bytesUsed).toBe(img.length);
    expect(sb.buildTime).toBe(BUILD_TIME);
    expect(sb.checksummed).toBe(true); // mkfs.erofs sets SB_CHKSUM: the check below is exercised
    expect(detectFilesystem(img, img.length).type).toBe('erofs');
  });

  it('resealing an unchanged superblock gives back the same bytes (the test helper agrees with mkfs.erofs)', () => {
    const b = Buffer.from(img);
    reseal(b);
    expect(b.equals(img)).toBe(true);
  });

  it('refuses a bad magic', () => {
    expect(decodeEdited((b) => b.writeUInt32LE(0xdeadbeef, SB))).toThrow('erofs: bad magic 0xdeadbeef at byte 1024');
  });

  it('refuses an image truncated by 1 block, by half', () => {
    const n = img.length;
    const cut = img.subarray(0, n - 4096);
    expect(() => decodeErofsSuperblock(cut, cut.length)).toThrow(`erofs: truncated: superblock says ${n} bytes (${n / 4096} blocks of 4096), file has ${n - 4096}`);
    expect(() => decodeErofsSuperblock(img.subarray(0, n / 2), n / 2)).toThrow(`truncated: superblock says ${n} bytes`);
    expect(() => decodeErofsSuperblock(img.subarray(0, 1100), 1100)).toThrow('truncated: only 1100 bytes');
    expect(() => decodeErofsSuperblock(img.subarray(0, 2048), 2048)).toThrow("truncated: the superblock's block needs 4096 bytes, file has 2048");
  });

  it('refuses blocks beyond the file', () => {
    const blocks = img.length / 4096;
    expect(decodeEdited((b) => b.writeUInt32LE(blocks + 1, SB + 36))).toThrow(`truncated: superblock says ${img.length + 4096} bytes (${blocks + 1} blocks of 4096), file has ${img.length}`);
    expect(decodeEdited((b) => b.writeUInt32LE(0, SB + 36))).toThrow('block count is 0');
  });

  it('refuses a superblock whose checksum does not match', () => {
    expect(decodeEdited((b) => (b[SB + 48] ^= 1), false)).toThrow(/erofs: superblock checksum 0x[0-9a-f]+ does not match its contents/);
  });

  it('refuses a bad block size', () => {
    expect(decodeEdited((b) => b.writeUInt8(20, SB + 12))).toThrow('bad blkszbits 20');
    expect(decodeEdited((b) => b.writeUInt8(8, SB + 12))).toThrow('bad blkszbits 8');
  });

  it('refuses a root inode outside the filesystem, unknown incompatible features, extra devices, no inodes', () => {
    expect(decodeEdited((b) => b.writeUInt16LE(0xffff, SB + 14))).toThrow(`root inode (nid 65535) at byte ${0xffff * 32} lies beyond the filesystem's end (${img.length})`);
    expect(decodeEdited((b) => b.writeUInt32LE(0x400, SB + 80))).toThrow('unknown incompatible features 0x400');
    expect(decodeEdited((b) => b.writeUInt16LE(2, SB + 86))).toThrow('needs 2 extra device(s)');
    expect(decodeEdited((b) => b.writeBigUInt64LE(0n, SB + 16))).toThrow('inode count is 0');
  });
});
