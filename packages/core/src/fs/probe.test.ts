/** probeFilesystem on files and buffers, and probeUsrImage's InputError naming the file the user gave. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CorruptError, InputError } from '../errors.js';
import { probeUsrImage } from './usr-image.js';
import { detectFilesystem } from './detect.js';
import { probeFilesystem } from './probe.js';

const dir = mkdtempSync(join(tmpdir(), 'imgbuild-fsprobe-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sqfs = join(dir, 'usr.sqfs');

beforeAll(() => {
  mkdirSync(join(dir, 'tree/lib'), { recursive: true });
  writeFileSync(join(dir, 'tree/lib/os-release'), 'ID=test\n');
  execFileSync('mksquashfs', [join(dir, 'tree'), sqfs, '-noappend', '-all-root', '-quiet', '-no-progress']);
});

async function rejection(p: Promise<unknown>): Promise<Error & { file?: string }> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

describe('probeFilesystem', () => {
  it('recognises a squashfs file and the same bytes in memory', async () => {
    const f = await probeFilesystem(sqfs);
    expect(f.type).toBe('squashfs');
    expect(f.fileSize).toBe(statSync(sqfs).size);
    const m = await probeFilesystem(readFileSync(sqfs));
    expect(m.bytesUsed).toBe(f.bytesUsed);
  });

  it('refuses anything else, showing how it starts', async () => {
    const elf = Buffer.from('7f454c4602010100', 'hex');
    expect(() => detectFilesystem(Buffer.concat([elf, Buffer.alloc(4000)]), 4008)).toThrow('not a squashfs or erofs image (starts with 7f 45 4c 46 02 01 01 00)');
    expect(() => detectFilesystem(Buffer.alloc(0), 0)).toThrow('not a squashfs or erofs image (is empty)');
    const other = join(dir, 'ext4ish.img');
    writeFileSync(other, Buffer.alloc(8192));
    const e = await rejection(probeFilesystem(other));
    expect(e).toBeInstanceOf(CorruptError);
    expect(e.file).toBe(other);
    expect(e.message).toBe('not a squashfs or erofs image (starts with 00 00 00 00 00 00 00 00)');
  });

  it('says when there is no file, or a folder', async () => {
    expect((await rejection(probeFilesystem(join(dir, 'missing')))).message).toBe('no such file');
    expect((await rejection(probeFilesystem(dir))).message).toBe('not a regular file');
  });
});

describe('probeUsrImage', () => {
  it('keeps the whole file as the bytes a slot receives, as before', async () => {
    const u = await probeUsrImage(sqfs);
    expect(u).toMatchObject({ fsType: 'squashfs', bytes: statSync(sqfs).size });
    expect(u.fs.bytesUsed).toBeLessThanOrEqual(u.bytes);
  });

  it('refuses a truncated image with an InputError naming the file', async () => {
    const cut = join(dir, 'cut.sqfs');
    writeFileSync(cut, readFileSync(sqfs));
    const used = (await probeFilesystem(sqfs)).bytesUsed;
    truncateSync(cut, used - 1);
    const e = await rejection(probeUsrImage(cut));
    expect(e).toBeInstanceOf(InputError);
    expect(e.file).toBe(cut);
    expect(e.message).toBe(`squashfs: truncated: superblock says ${used} bytes, file has ${used - 1}`);
  });
});
