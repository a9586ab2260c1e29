/**
 * `imgbuild build --from` and `imgbuild update --from` refuse a cut, corrupt or unknown /usr image
 * before writing anything: one line naming the file and the problem, no output, no temporary, and an
 * image to update left byte for byte as it was.
 */
import { describe, expect, it, beforeAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fakeBzImage, imgbuild, ROOT, tempDir, tool } from './helpers.js';

const dir = tempDir('imgbuild-fsprobe-');
const kernel = join(dir, 'vmlinuz');
const initrd = join(dir, 'initrd.img');
const usr = join(dir, 'usr.squashfs');
const cut = join(dir, 'truncated.sqfs');
const env = { SOURCE_DATE_EPOCH: '1700000000' };
let bytesUsed: number;

beforeAll(async () => {
  writeFileSync(kernel, fakeBzImage());
  writeFileSync(initrd, randomBytes(100_000));
  const tree = join(dir, 'usrtree');
  cpSync(join(ROOT, 'examples/usr'), tree, { recursive: true });
  await tool('mksquashfs', [tree, usr, '-noappend', '-all-root', '-quiet', '-mkfs-time', '1700000000', '-all-time', '1700000000']);
  // Half of it: the magic is intact, so only the superblock's length gives the cut away.
  const whole = readFileSync(usr);
  bytesUsed = Number(whole.readBigUInt64LE(40));
  writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2)));
});

const sha256 = async (f: string) => String((await tool('sha256sum', [f])).stdout).split(' ')[0];

function build(from: string, out: string) {
  return imgbuild(['build', '--from', from, '--kernel', kernel, '--initrd', initrd, '--layout', 'mini', '--seed', 'test', '-o', out], { env });
}

/** Exit 1 and exactly one stderr line, which names `file` and then the problem. */
function expectOneLineRefusal(r: { exitCode?: number; stderr: unknown }, file: string, problem: string | RegExp): void {
  const lines = String(r.stderr).trim().split('\n');
  expect(r.exitCode, String(r.stderr)).toBe(1);
  expect(lines).toHaveLength(1);
  const prefix = `imgbuild: ${file}: `;
  expect(lines[0].startsWith(prefix), lines[0]).toBe(true);
  if (typeof problem === 'string') expect(lines[0].slice(prefix.length)).toBe(problem);
  else expect(lines[0].slice(prefix.length)).toMatch(problem);
}

describe('imgbuild build --from', () => {
  it('refuses a truncated squashfs and leaves no output and no temporary', async () => {
    const outDir = join(dir, 'build-cut');
    mkdirSync(outDir);
    const r = await build(cut, join(outDir, 'disk.raw'));
    const half = Math.floor(readFileSync(usr).length / 2);
    expectOneLineRefusal(r, cut, `squashfs: truncated: superblock says ${bytesUsed} bytes, file has ${half}`);
    expect(readdirSync(outDir)).toEqual([]);
  });

  it('refuses a squashfs cut by one byte of the filesystem', async () => {
    const outDir = join(dir, 'build-cut1');
    mkdirSync(outDir);
    const one = join(dir, 'cut-by-1.sqfs');
    cpSync(usr, one);
    truncateSync(one, bytesUsed - 1);
    const r = await build(one, join(outDir, 'disk.raw'));
    expectOneLineRefusal(r, one, `squashfs: truncated: superblock says ${bytesUsed} bytes, file has ${bytesUsed - 1}`);
    expect(readdirSync(outDir)).toEqual([]);
  });

  it('refuses a corrupt superblock and a file that is no filesystem at all', async () => {
    const outDir = join(dir, 'build-bad');
    mkdirSync(outDir);
    const v3 = join(dir, 'v3.sqfs');
    const b = readFileSync(usr);
    b.writeUInt16LE(3, 28);
    writeFileSync(v3, b);
    expectOneLineRefusal(await build(v3, join(outDir, 'disk.raw')), v3, 'squashfs: unsupported version 3.0 (only 4.0 is mounted by Linux)');
    expectOneLineRefusal(await build(initrd, join(outDir, 'disk.raw')), initrd, /^not a squashfs or erofs image \(starts with [0-9a-f ]{23}\)$/);
    expect(readdirSync(outDir)).toEqual([]);
  });
});

describe('imgbuild update --from', () => {
  const imgDir = join(dir, 'upd');
  const img = join(imgDir, 'disk.raw');

  beforeAll(async () => {
    mkdirSync(imgDir);
    const r = await build(usr, img);
    expect(r.exitCode, String(r.stderr)).toBe(0);
  });

  it('refuses a truncated squashfs and leaves the image, its manifest and its folder unchanged', async () => {
    const before = { img: await sha256(img), manifest: await sha256(`${img}.manifest.json`), files: readdirSync(imgDir).sort() };
    const r = await imgbuild(['update', img, '--from', cut], { env });
    const half = Math.floor(readFileSync(usr).length / 2);
    expectOneLineRefusal(r, cut, `squashfs: truncated: superblock says ${bytesUsed} bytes, file has ${half}`);
    expect({ img: await sha256(img), manifest: await sha256(`${img}.manifest.json`), files: readdirSync(imgDir).sort() }).toEqual(before);
    expect(existsSync(`${img}.lock`)).toBe(false);
  });
});
