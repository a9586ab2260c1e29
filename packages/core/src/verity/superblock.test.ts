import { describe, expect, it } from 'vitest';
import { CorruptError, UsageError } from '../errors.js';
import { DEFAULT_VERITY_PARAMS, maxDataBlocks, verityGeometry, verityHashAreaSize, verityLayout, type VerityParams } from './geometry.js';
import { decodeVeritySuperblock, encodeVeritySuperblock, type VeritySuperblock } from './superblock.js';
import { TreeHasher } from './hasher.js';

const SB: VeritySuperblock = {
  version: 1,
  hashType: 1,
  uuid: '11111111-2222-4333-8444-555555555555',
  hash: 'sha256',
  dataBlockSize: 4096,
  hashBlockSize: 4096,
  dataBlocks: 260094,
  salt: Buffer.from('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'hex'),
};

describe('verity superblock codec', () => {
  it('writes every field at its offset, little-endian', () => {
    const b = encodeVeritySuperblock(SB);
    expect(b.length).toBe(512);
    expect(b.toString('latin1', 0, 8)).toBe('verity\0\0');
    expect(b.readUInt32LE(8)).toBe(1);
    expect(b.readUInt32LE(12)).toBe(1);
    expect(b.subarray(16, 32).toString('hex')).toBe('11111111222243338444555555555555');
    expect(b.toString('latin1', 32, 38)).toBe('sha256');
    expect(b.subarray(38, 64).every((x) => x === 0)).toBe(true);
    expect(b.readUInt32LE(64)).toBe(4096);
    expect(b.readUInt32LE(68)).toBe(4096);
    expect(b.readBigUInt64LE(72)).toBe(260094n);
    expect(b.readUInt16LE(80)).toBe(32);
    expect(b.subarray(88, 120).equals(SB.salt)).toBe(true);
    expect(b.subarray(120).every((x) => x === 0)).toBe(true);
  });

  it('round-trips, salts from none to 256 bytes, both hash types, every algorithm', () => {
    for (const salt of [Buffer.alloc(0), Buffer.from([7]), Buffer.alloc(256, 0xa5)]) {
      for (const hashType of [0, 1] as const) {
        for (const hash of ['sha1', 'sha256', 'sha512'] as const) {
          const sb = { ...SB, salt, hashType, hash };
          expect(decodeVeritySuperblock(encodeVeritySuperblock(sb))).toEqual(sb);
        }
      }
    }
  });

  it('rejects every single-bit flip outside the uuid and the salt contents', () => {
    const good = encodeVeritySuperblock(SB);
    let rejected = 0;
    for (let bit = 0; bit < 512 * 8; bit++) {
      const byte = bit >> 3;
      if ((byte >= 16 && byte < 32) || (byte >= 88 && byte < 120)) continue; // uuid and salt: any value is valid
      const b = Buffer.from(good);
      b[byte] ^= 1 << (bit & 7);
      const decode = () => decodeVeritySuperblock(b, 'x.img');
      // data_blocks and block sizes can flip into other valid values; they still differ from the original.
      try {
        const d = decode();
        expect(d).not.toEqual(SB);
      } catch (e) {
        expect(e).toBeInstanceOf(CorruptError);
        expect((e as CorruptError).file).toBe('x.img');
        rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(3500);
  });

  it('refuses a salt longer than 256 bytes', () => {
    expect(() => encodeVeritySuperblock({ ...SB, salt: Buffer.alloc(257) })).toThrow(UsageError);
  });
});

describe('verity geometry', () => {
  it('keeps the figures the layouts rely on', () => {
    expect(maxDataBlocks(2 ** 30)).toBe(260094);
    expect(verityHashAreaSize(10 * 2 ** 30)).toBe(84_557_824); // systemd's test figure
  });

  it('has no hash blocks for a single data block (the root is the data block digest)', () => {
    expect(verityGeometry(1).levels).toEqual([]);
    expect(verityGeometry(1).hashAreaSize).toBe(4096);
    expect(verityGeometry(1, { ...DEFAULT_VERITY_PARAMS, superblock: false }).hashAreaSize).toBe(0);
  });

  it('places the tree at the first hash block boundary after a 512-aligned superblock', () => {
    const l = verityLayout(2, DEFAULT_VERITY_PARAMS, 512);
    expect(l.treeOffset).toBe(4096);
    expect(l.end).toBe(8192);
    expect(l.size).toBe(8192 - 512);
    const aligned = verityLayout(129, DEFAULT_VERITY_PARAMS, 8192);
    expect(aligned.size).toBe(aligned.hashAreaSize);
    expect(aligned.levelOffsets).toEqual([8192 + 2 * 4096, 8192 + 4096]);
    expect(() => verityLayout(2, DEFAULT_VERITY_PARAMS, 100)).toThrow(UsageError);
    expect(() => verityLayout(2, { ...DEFAULT_VERITY_PARAMS, superblock: false }, 512)).toThrow(UsageError);
  });

  it('agrees with the hasher on hashes per block for every digest and block size', () => {
    for (const hash of ['sha1', 'sha256', 'sha512'] as const) {
      for (const hashType of [0, 1] as const) {
        for (let hbs = 512; hbs <= 65536; hbs *= 2) {
          const p: VerityParams = { ...DEFAULT_VERITY_PARAMS, hash, hashType, hashBlockSize: hbs };
          const h = new TreeHasher({ hash, hashType, hashBlockSize: hbs, salt: Buffer.alloc(0) });
          expect(verityGeometry(1000, p).hashesPerBlock).toBe(h.perBlock);
          expect(h.perBlock * h.slot).toBeLessThanOrEqual(hbs);
        }
      }
    }
  });
});
