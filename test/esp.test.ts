/**
 * The ESP writer judged by fsck.vfat, sgdisk and mtools' own listing: reproducible to the byte (at
 * different times, in different folders, over dirty bytes), the rest of the image untouched, files
 * read back, replace for the updater, minimum size.
 */
import { describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import {
  ESP_BOOT_PATH,
  ESP_MIN_BYTES,
  espVolumeId,
  listEsp,
  makeEsp,
  readEspFile,
  replaceEspFiles,
  sectorsPerCluster,
  type EspFile,
} from '../packages/core/src/boot/index.js';
import { InputError, ToolError } from '../packages/core/src/errors.js';
import { tempDir, tool } from './helpers.js';

const dir = tempDir('imgbuild-esp-');
const MiB = 1024 * 1024;
const SDE = 1700000000; // 2023-11-14 22:13:20 UTC
const ESP_OFF = 2048 * 512;
const ESP_SIZE = 64 * MiB;

const files: EspFile[] = [
  { path: ESP_BOOT_PATH, data: randomBytes(300_000) },
  { path: 'loader/entries/imgbuild-usr-a.conf', data: Buffer.from('title imgbuild A\nlinux /vmlinuz\n') },
  { path: 'EFI/Linux/imgbuild.efi', data: randomBytes(70_000) },
  { path: 'loader/loader.conf', data: Buffer.from('timeout 0\n') },
  { path: 'README.TXT', data: Buffer.alloc(0) },
];

/** A 128 MiB image with a GPT (ESP at 1 MiB, 64 MiB; a second partition after it), random bytes elsewhere. */
async function gptImage(name: string): Promise<string> {
  const img = join(dir, name);
  writeFileSync(img, Buffer.alloc(0));
  await tool('truncate', ['-s', '128M', img]);
  await tool('sgdisk', ['-n', '1:2048:+64M', '-t', '1:ef00', '-c', '1:EFI-SYSTEM', '-n', '2:0:0', '-t', '2:8300', img]);
  // Recognisable bytes in the second partition, right after the ESP.
  const fd = openSync(img, 'r+');
  writeSync(fd, Buffer.alloc(MiB, 0xa5), 0, MiB, ESP_OFF + ESP_SIZE);
  closeSync(fd);
  return img;
}

function readRange(img: string, off: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  const fd = openSync(img, 'r');
  readSync(fd, b, 0, len, off);
  closeSync(fd);
  return b;
}

function outsideEspHash(img: string): string {
  const all = readFileSync(img);
  return createHash('sha256').update(all.subarray(0, ESP_OFF)).update(all.subarray(ESP_OFF + ESP_SIZE)).digest('hex');
}

async function fsckRange(img: string, off: number, len: number): Promise<void> {
  const part = join(dir, `fsck-${randomBytes(4).toString('hex')}.fat`);
  writeFileSync(part, readRange(img, off, len));
  const r = await execa('fsck.vfat', ['-n', '-v', part], { reject: false });
  expect(r.exitCode, String(r.stdout) + String(r.stderr)).toBe(0);
  expect(String(r.stdout)).not.toMatch(/differ|dirty|mark|invalid|lost/i);
}


interface FatDirEntry {
  path: string;
  attr: number;
  crtTimeTenth: number;
  crtTime: number;
  crtDate: number;
  accDate: number;
  wrtTime: number;
  wrtDate: number;
}

/** Every short directory entry of a FAT32 volume (the test's own reader: boot sector, FAT chains, dirs). */
function fatEntries(fs: Buffer): FatDirEntry[] {
  const bps = fs.readUInt16LE(11);
  const spc = fs[13];
  const reserved = fs.readUInt16LE(14);
  const nfats = fs[16];
  const fatSz = fs.readUInt32LE(36);
  const rootCluster = fs.readUInt32LE(44);
  const dataStart = (reserved + nfats * fatSz) * bps;
  const clusterBytes = bps * spc;
  const chain = (c: number): Buffer => {
    const parts: Buffer[] = [];
    for (let n = c; n >= 2 && n < 0x0ffffff8; n = fs.readUInt32LE(reserved * bps + n * 4) & 0x0fffffff) {
      parts.push(fs.subarray(dataStart + (n - 2) * clusterBytes, dataStart + (n - 1) * clusterBytes));
    }
    return Buffer.concat(parts);
  };
  const out: FatDirEntry[] = [];
  const walk = (cluster: number, prefix: string) => {
    const d = chain(cluster);
    for (let o = 0; o + 32 <= d.length; o += 32) {
      if (d[o] === 0) break;
      const attr = d[o + 11];
      if (d[o] === 0xe5 || attr === 0x0f) continue;
      const name = d.toString('latin1', o, o + 11);
      out.push({ path: prefix + name, attr, crtTimeTenth: d[o + 13], crtTime: d.readUInt16LE(o + 14), crtDate: d.readUInt16LE(o + 16), accDate: d.readUInt16LE(o + 18), wrtTime: d.readUInt16LE(o + 22), wrtDate: d.readUInt16LE(o + 24) });
      const child = (d.readUInt16LE(o + 20) << 16) | d.readUInt16LE(o + 26);
      if (attr & 0x10 && !name.startsWith('.')) walk(child, `${prefix}${name.trim()}/`);
    }
  };
  walk(rootCluster, '');
  return out;
}

/** FAT date and time of a UTC epoch. */
function fatStamp(epoch: number): { date: number; time: number } {
  const t = new Date(epoch * 1000);
  return {
    date: ((t.getUTCFullYear() - 1980) << 9) | ((t.getUTCMonth() + 1) << 5) | t.getUTCDate(),
    time: (t.getUTCHours() << 11) | (t.getUTCMinutes() << 5) | (t.getUTCSeconds() >> 1),
  };
}

const make = (image: string, extra: Partial<Parameters<typeof makeEsp>[0]> = {}) =>
  makeEsp({ image, offsetBytes: ESP_OFF, sizeBytes: ESP_SIZE, volumeId: espVolumeId('seed-1'), files, sourceDateEpoch: SDE, ...extra });

describe('makeEsp', () => {
  it('is reproducible: same inputs, different times, folders and prior contents → same bytes', { timeout: 60_000 }, async () => {
    mkdirSync(join(dir, 'one'));
    mkdirSync(join(dir, 'two'));
    const a = await gptImage('one/a.img');
    const b = await gptImage('two/b.img');
    // Dirty the ESP range of b first: none of it may survive.
    const fd = openSync(b, 'r+');
    writeSync(fd, randomBytes(4 * MiB), 0, 4 * MiB, ESP_OFF + 10 * MiB);
    closeSync(fd);
    await make(a);
    await new Promise((r) => setTimeout(r, 2100)); // FAT times have a 2 s resolution
    // Files given in another order: the result must not depend on it.
    await make(b, { files: [...files].reverse() });
    expect(readRange(a, ESP_OFF, ESP_SIZE).equals(readRange(b, ESP_OFF, ESP_SIZE))).toBe(true);
    const c = await gptImage('c.img');
    await make(c, { volumeId: espVolumeId('seed-2') });
    expect(readRange(a, ESP_OFF, ESP_SIZE).equals(readRange(c, ESP_OFF, ESP_SIZE))).toBe(false);
  });

  it('passes fsck.vfat -n, leaves the rest of the image (GPT, next partition) untouched', async () => {
    const img = await gptImage('fsck.img');
    const before = outsideEspHash(img);
    await make(img);
    expect(outsideEspHash(img)).toBe(before);
    const v = await tool('sgdisk', ['-v', img]);
    expect(String(v.stdout)).toMatch(/No problems found/);
    await fsckRange(img, ESP_OFF, ESP_SIZE);
  });

  it('writes FAT32 with our volume id, label, hidden sectors, and every time = SOURCE_DATE_EPOCH', async () => {
    const img = await gptImage('fields.img');
    await make(img, { volumeId: 0xdeadbeef });
    const boot = readRange(img, ESP_OFF, 512);
    expect(boot.toString('latin1', 0x52, 0x5a)).toBe('FAT32   '); // BS_FilSysType
    expect(boot.readUInt32LE(0x43)).toBe(0xdeadbeef); // BS_VolID
    expect(boot.toString('latin1', 0x47, 0x52)).toBe('EFI-SYSTEM '); // BS_VolLab
    expect(boot.readUInt32LE(0x1c)).toBe(2048); // BPB_HiddSec = partition start
    expect(boot.readUInt16LE(0x1fe)).toBe(0xaa55);
    const listing = String((await execa('mdir', ['-/', '-a', '-i', `${img}@@${ESP_OFF}`, '::/'], { env: { MTOOLS_SKIP_CHECK: '1', TZ: 'UTC' } })).stdout);
    const dates = [...listing.matchAll(/(\d{4}-\d\d-\d\d)\s+(\d+:\d\d)/g)].map((m) => `${m[1]} ${m[2]}`);
    expect(dates.length).toBeGreaterThan(10);
    expect(new Set(dates)).toEqual(new Set(['2023-11-14 22:13']));
    expect(listing).toMatch(/Volume Serial Number is DEAD-BEEF/);
  });

  it('stamps no current time anywhere: creation, access and write times of every entry come from SOURCE_DATE_EPOCH', async () => {
    const img = await gptImage('stamps.img');
    await make(img);
    await replaceEspFiles(img, ESP_OFF, [{ path: 'EFI/new/x.txt', data: Buffer.from('x') }, { path: ESP_BOOT_PATH, data: Buffer.from('y') }], SDE);
    const entries = fatEntries(readRange(img, ESP_OFF, ESP_SIZE));
    const { date, time } = fatStamp(SDE);
    const stamped = entries.filter((e) => (e.attr & 0x08) === 0); // not the volume label (mkfs --invariant fixes that one)
    expect(stamped.map((e) => e.path.replace(/\s+/g, ' ').trim())).toContain('EFI/NEW/X TXT');
    expect(stamped.length).toBe(6 + 6 * 3); // 6 files; 6 folders, each with its "." and ".."
    for (const e of stamped) {
      expect({ path: e.path, wrt: [e.wrtDate, e.wrtTime], acc: e.accDate, crt: [e.crtDate, e.crtTime] }).toEqual({
        path: e.path,
        wrt: [date, time],
        acc: date,
        crt: [date, time],
      });
    }
    const label = entries.filter((e) => e.attr & 0x08);
    expect(label.map((e) => e.path.trim())).toEqual(['EFI-SYSTEM']);
    expect(label[0].wrtDate).not.toBe(fatStamp(Math.floor(Date.now() / 1000)).date);
  });

  it('reads every file back and lists the tree', async () => {
    const img = await gptImage('read.img');
    await make(img);
    for (const f of files) expect((await readEspFile(img, ESP_OFF, f.path)).equals(f.data), f.path).toBe(true);
    // FAT is case-insensitive.
    expect((await readEspFile(img, ESP_OFF, 'efi/boot/bootx64.efi')).equals(files[0].data)).toBe(true);
    expect(await listEsp(img, ESP_OFF)).toEqual([
      { path: 'EFI', kind: 'dir' },
      { path: 'EFI/BOOT', kind: 'dir' },
      { path: 'EFI/BOOT/BOOTX64.EFI', kind: 'file' },
      { path: 'EFI/Linux', kind: 'dir' },
      { path: 'EFI/Linux/imgbuild.efi', kind: 'file' },
      { path: 'README.TXT', kind: 'file' },
      { path: 'loader', kind: 'dir' },
      { path: 'loader/entries', kind: 'dir' },
      { path: 'loader/entries/imgbuild-usr-a.conf', kind: 'file' },
      { path: 'loader/loader.conf', kind: 'file' },
    ]);
    await expect(readEspFile(img, ESP_OFF, 'EFI/BOOT/NOPE.EFI')).rejects.toThrow(InputError);
    await expect(readEspFile(img, ESP_OFF, 'EFI/BOOT')).rejects.toThrow(/no file EFI\/BOOT/);
  });

  it('lists an empty ESP as empty', async () => {
    const img = await gptImage('empty.img');
    await make(img, { files: [] });
    expect(await listEsp(img, ESP_OFF)).toEqual([]);
    await fsckRange(img, ESP_OFF, ESP_SIZE);
  });

  it('sizes: 64 MiB and ESP_MIN_BYTES are FAT32-able, smaller is refused clearly', async () => {
    const img = join(dir, 'sizes.img');
    writeFileSync(img, Buffer.alloc(0));
    await tool('truncate', ['-s', '80M', img]);
    await make(img, { sizeBytes: ESP_MIN_BYTES });
    expect(readRange(img, ESP_OFF, 512).toString('latin1', 0x52, 0x5a)).toBe('FAT32   ');
    await fsckRange(img, ESP_OFF, ESP_MIN_BYTES);
    await expect(make(img, { sizeBytes: 32 * MiB })).rejects.toThrow(/too small for FAT32/);
    await expect(make(img, { sizeBytes: 32 * MiB })).rejects.toBeInstanceOf(InputError);
    await expect(make(img, { sizeBytes: 80 * MiB })).rejects.toThrow(/ESP range ends at/);
    await expect(make(img, { sizeBytes: ESP_SIZE + 100 })).rejects.toThrow(/multiple of 512/);
    await expect(make(img, { offsetBytes: 1000 })).rejects.toThrow(/multiple of 512/);
  });

  it('is really FAT32 (≥ 65525 clusters) at every size, including 256 MiB where mkfs.vfat alone falls short', { timeout: 120_000 }, async () => {
    const img = join(dir, 'clusters.img');
    writeFileSync(img, Buffer.alloc(0));
    await tool('truncate', ['-s', `${1024 + 2}M`, img]);
    for (const mib of [33, 64, 100, 255, 256, 257, 512, 1024]) {
      const size = mib * MiB;
      await make(img, { sizeBytes: size, files: [{ path: 'EFI/BOOT/BOOTX64.EFI', data: Buffer.from(`size ${mib}`) }] });
      const bs = readRange(img, ESP_OFF, 512);
      const spc = bs[13];
      const clusters = Math.floor((bs.readUInt32LE(0x20) - bs.readUInt16LE(0x0e) - bs[0x10] * bs.readUInt32LE(0x24)) / spc);
      expect(clusters, `${mib} MiB`).toBeGreaterThanOrEqual(65525);
      expect(spc, `${mib} MiB`).toBe(sectorsPerCluster(size));
      expect(String(await readEspFile(img, ESP_OFF, ESP_BOOT_PATH))).toBe(`size ${mib}`);
      if (mib <= 256) await fsckRange(img, ESP_OFF, size);
    }
    expect(sectorsPerCluster(1024 * MiB)).toBe(8); // 4 KiB clusters once there is room
  });

  it('refuses bad labels, ids, times and paths before touching the image', async () => {
    const img = join(dir, 'refuse.img');
    writeFileSync(img, Buffer.alloc(0));
    await tool('truncate', ['-s', '80M', img]);
    const before = readFileSync(img);
    await expect(make(img, { label: 'TOO-LONG-LABEL' })).rejects.toThrow(/FAT label/);
    await expect(make(img, { label: 'lower' })).rejects.toThrow(/FAT label/);
    await expect(make(img, { volumeId: 2 ** 32 })).rejects.toThrow(/32-bit/);
    await expect(make(img, { sourceDateEpoch: 0 })).rejects.toThrow(/FAT can store/);
    for (const path of ['/abs', 'a//b', '../x', 'a/./b', 'a:b', 'x*', 'trailing.', '']) {
      await expect(make(img, { files: [{ path, data: Buffer.alloc(1) }] }), path).rejects.toThrow(InputError);
    }
    await expect(make(img, { files: [{ path: 'A.TXT', data: Buffer.alloc(1) }, { path: 'a.txt', data: Buffer.alloc(1) }] })).rejects.toThrow(/twice/);
    await expect(make(img, { files: [{ path: 'A', data: Buffer.alloc(1) }, { path: 'A/B', data: Buffer.alloc(1) }] })).rejects.toThrow(/both a file and a folder/);
    await expect(make(join(dir, 'missing.img'))).rejects.toThrow(/cannot open image/);
    expect(readFileSync(img).equals(before)).toBe(true);
  });

  it('a tool failure is a one-line ToolError naming the image', async () => {
    const img = join(dir, 'notfat.img');
    writeFileSync(img, Buffer.alloc(4 * MiB));
    const e = await listEsp(img, 0).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ToolError);
    expect((e as ToolError).file).toBe(img);
    expect((e as ToolError).message).toMatch(/^mdir failed: /);
    expect((e as ToolError).message).not.toContain('\n');
  });
});

describe('replaceEspFiles', () => {
  const newUki = randomBytes(450_000);
  const update: EspFile[] = [
    { path: ESP_BOOT_PATH, data: newUki },
    { path: 'loader/entries/imgbuild-usr-b.conf', data: Buffer.from('title imgbuild B\n') },
    { path: 'EFI/imgbuild/state/slot', data: Buffer.from('B\n') },
  ];

  it('overwrites and adds files, keeps the rest, stays clean and reproducible', { timeout: 60_000 }, async () => {
    const a = await gptImage('rep-a.img');
    const b = await gptImage('rep-b.img');
    await make(a);
    await make(b);
    const before = outsideEspHash(a);
    await replaceEspFiles(a, ESP_OFF, update, SDE + 10);
    await new Promise((r) => setTimeout(r, 2100));
    await replaceEspFiles(b, ESP_OFF, [...update].reverse(), SDE + 10);
    expect(readRange(a, ESP_OFF, ESP_SIZE).equals(readRange(b, ESP_OFF, ESP_SIZE))).toBe(true);
    expect(outsideEspHash(a)).toBe(before);
    await fsckRange(a, ESP_OFF, ESP_SIZE);
    for (const f of update) expect((await readEspFile(a, ESP_OFF, f.path)).equals(f.data), f.path).toBe(true);
    expect((await readEspFile(a, ESP_OFF, 'loader/entries/imgbuild-usr-a.conf')).equals(files[1].data)).toBe(true);
    const paths = (await listEsp(a, ESP_OFF)).map((e) => e.path);
    expect(paths.filter((p) => p.toUpperCase() === ESP_BOOT_PATH)).toEqual([ESP_BOOT_PATH]);
    expect(paths).toContain('EFI/imgbuild/state');
    expect(paths.filter((p) => p.includes('imgbuild-new'))).toEqual([]); // no side copy left behind
    // Replacing with a smaller file frees clusters; fsck still clean.
    await replaceEspFiles(a, ESP_OFF, [{ path: ESP_BOOT_PATH, data: Buffer.from('tiny') }], SDE);
    expect(String(await readEspFile(a, ESP_OFF, ESP_BOOT_PATH))).toBe('tiny');
    await fsckRange(a, ESP_OFF, ESP_SIZE);
  });

  it('replaces an unbooted file in place where a side copy would not fit; a live one still fails', { timeout: 60_000 }, async () => {
    const img = await gptImage('rep-full.img');
    await make(img);
    // 18 MiB files in a 64 MiB ESP: two leave room for a side copy, three do not.
    const big = (b: number) => Buffer.alloc(18 * MiB, b);
    await replaceEspFiles(img, ESP_OFF, [{ path: 'EFI/Linux/a.efi', data: big(1) }, { path: 'EFI/Linux/b.efi', data: big(2) }], SDE);
    await replaceEspFiles(img, ESP_OFF, [{ path: 'EFI/Linux/a.efi', data: big(3) }], SDE);
    await replaceEspFiles(img, ESP_OFF, [{ path: 'EFI/Linux/c.efi', data: big(4) }], SDE);
    await replaceEspFiles(img, ESP_OFF, [{ path: 'EFI/Linux/b.efi', data: big(5) }], SDE, { unbooted: ['EFI/Linux/b.efi'] });
    expect((await readEspFile(img, ESP_OFF, 'EFI/Linux/a.efi')).equals(big(3))).toBe(true);
    expect((await readEspFile(img, ESP_OFF, 'EFI/Linux/b.efi')).equals(big(5))).toBe(true);
    await fsckRange(img, ESP_OFF, ESP_SIZE);
    await expect(replaceEspFiles(img, ESP_OFF, [{ path: 'EFI/Linux/a.efi', data: big(6) }], SDE)).rejects.toThrow(/Disk full/);
  });

  it('refuses to put a file where a folder is, and vice versa', async () => {
    const img = await gptImage('rep-conflict.img');
    await make(img);
    await expect(replaceEspFiles(img, ESP_OFF, [{ path: 'EFI/BOOT', data: Buffer.alloc(1) }], SDE)).rejects.toThrow(/folder where file/);
    await expect(replaceEspFiles(img, ESP_OFF, [{ path: 'README.TXT/x', data: Buffer.alloc(1) }], SDE)).rejects.toThrow(/file where folder/);
  });
});
