/**
 * The manifest's identity digest (image.digest): the dm-verity root hash of the whole raw image, which
 * `veritysetup format --no-superblock --salt=- IMAGE HASHFILE` must print too: after a build, after an
 * update, for a qemu_uefi bundle's raw form; and the sparse engine against veritysetup on files whose
 * holes and data fall on and off group boundaries.
 */
import { describe, expect, it, beforeAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync, writeFileSync, writeSync, ftruncateSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { sparseVerityRoot } from '../packages/core/src/verity/sparse.js';
import { formatVerity } from '../packages/core/src/verity/format.js';
import { dataExtents, imageDigest, parseFilefrag } from '../packages/core/src/verify/image-digest.js';
import { fakeBzImage, imgbuild, ROOT, tempDir, tool } from './helpers.js';

const dir = tempDir('imgbuild-digest-');
const kernel = join(dir, 'vmlinuz');
const initrd = join(dir, 'initrd.img');
const env = { SOURCE_DATE_EPOCH: '1700000000' };
const manifest = (p: string) => JSON.parse(readFileSync(p, 'utf8'));

async function veritysetupRoot(file: string): Promise<string> {
  const r = await tool('veritysetup', ['format', '--no-superblock', '--salt=-', file, join(dir, 'v.hash')]);
  return /Root hash:\s+([0-9a-f]+)/.exec(String(r.stdout))![1];
}

/** A sparse file of `size` bytes with random data at each [offset, length). */
function sparse(name: string, size: number, data: Array<[number, number]>): string {
  const p = join(dir, name);
  const fd = openSync(p, 'w');
  try {
    ftruncateSync(fd, size);
    for (const [o, l] of data) writeSync(fd, randomBytes(l), 0, l, o);
  } finally {
    closeSync(fd);
  }
  return p;
}

beforeAll(() => {
  writeFileSync(kernel, fakeBzImage());
  writeFileSync(initrd, randomBytes(50_000));
});

describe('sparse dm-verity root of a whole file', () => {
  const K = 4096;
  const G = 128 * K; // one level-0 hash block of data
  const cases: Array<[string, number, Array<[number, number]>]> = [
    ['one block', K, [[0, 100]]],
    ['one partial group, data at the end', 77 * K, [[76 * K, K]]],
    ['one full group', G, [[5 * K, K]]],
    ['a partial last group, all hole', 3 * G + 5 * K, [[0, K]]],
    ['a partial last group with data', 3 * G + 5 * K, [[3 * G + 4 * K, K]]],
    [
      'three levels, an aligned hole of 128 groups collapsing into one entry',
      400 * G + 3 * K,
      [
        [0, 2 * K],
        [300 * G + 7, 3 * K],
        [399 * G, 10],
      ],
    ],
    [
      'a size not a multiple of 4096 (veritysetup ignores the tail)',
      2 * G + 1000,
      [
        [2 * G, 1000],
        [G - 10, 20],
      ],
    ],
  ];
  for (const [name, size, data] of cases) {
    it(`${name}: equals veritysetup, with FIEMAP's extents, with none (whole file) and with the written ranges`, async () => {
      const f = sparse(`s-${size}-${data.length}`, size, data);
      const want = await veritysetupRoot(f);
      expect((await imageDigest(f)).rootHash).toBe(want);
      expect((await sparseVerityRoot({ path: f, extents: null, jobs: 1 })).rootHash).toBe(want);
      expect((await sparseVerityRoot({ path: f, extents: data, jobs: 2 })).rootHash).toBe(want);
    });
  }

  it("parses filefrag's table, where logically contiguous extents count as one", () => {
    const out = [
      'Filesystem type is: ef53',
      'File size of img.raw is 8663334912 (8663334912 blocks of 1 bytes)',
      ' ext:     logical_offset:        physical_offset: length:   expected: flags:',
      '   0:        0..   20479: 181965684736..181965705215:  20480:            ',
      '   1:  2097152.. 4214783: 181967781888..181969899519: 2117632:            ',
      '   2:  4214784.. 6463487:          0..         0:      0:             unknown_loc,delalloc',
      '   3: 8663314432..8663334911: 181980344320..181980364799:  20480: 187403587584: last,eof',
      'img.raw: 3 extents found',
    ].join('\n');
    expect(parseFilefrag(out)).toEqual([
      [0, 20480],
      [2097152, 2117632],
      [4214784, 2248704],
      [8663314432, 20480],
    ]);
    expect(parseFilefrag('Filesystem type is: ef53\nFile size of e is 1048576 (1048576 blocks of 1 bytes)\ne: 0 extents found\n')).toEqual([]);
    expect(parseFilefrag('e: FIBMAP unsupported\n')).toBeNull();
  });

  it('reads only the data: FIEMAP lists the written ranges of a sparse file', async () => {
    const f = sparse('fiemap', 1 << 30, [
      [200 << 20, 1 << 20],
      [900 << 20, 4096],
    ]);
    const ext = await dataExtents(f);
    expect(ext).not.toBeNull();
    expect(ext!.reduce((n, [, l]) => n + l, 0)).toBeLessThanOrEqual((1 << 20) + 2 * 4096);
    const d = await imageDigest(f);
    expect(d.extentsFrom).toBe('fiemap');
    expect(d.bytesHashed).toBeLessThanOrEqual(2 * 512 * 1024 + 1024 * 1024);
    expect(d.rootHash).toBe(await veritysetupRoot(f));
  });

  it('uses worker threads on enough data, and agrees', async () => {
    const f = sparse('big', 512 << 20, [
      [0, 96 << 20],
      [300 << 20, 5],
    ]);
    const a = await sparseVerityRoot({
      path: f,
      extents: [
        [0, 96 << 20],
        [300 << 20, 5],
      ],
      jobs: 2,
    });
    expect(a.bytesHashed).toBe((96 << 20) + 512 * 1024);
    expect(a.rootHash).toBe(await veritysetupRoot(f));
  });
});

describe('the manifest records a digest veritysetup recomputes', () => {
  const usr1 = join(dir, 'usr1.squashfs');
  const usr2 = join(dir, 'usr2.squashfs');
  beforeAll(async () => {
    for (const [out, v] of [
      [usr1, '1'],
      [usr2, '2'],
    ]) {
      await tool('mksquashfs', [join(ROOT, 'examples/usr'), out, '-noappend', '-all-root', '-quiet', '-mkfs-time', '1700000000', '-all-time', '1700000000']);
      // Different bytes for the second version: append one file's worth through a second source tree.
      if (v === '2') {
        const extra = join(dir, 'extra');
        await tool('sh', ['-c', `mkdir -p ${extra}/share && head -c 300000 /dev/urandom > ${extra}/share/blob`]);
        await tool('mksquashfs', [extra, out, '-quiet', '-all-root', '-mkfs-time', '1700000000', '-all-time', '1700000000']);
      }
    }
  });

  it('raw: after a build and after an update; verify reports it unchanged, then changed', async () => {
    const img = join(dir, 'disk.raw');
    let r = await imgbuild(['build', '--from', usr1, '--kernel', kernel, '--initrd', initrd, '--seed', 'd', '-o', img], { env });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const m1 = manifest(`${img}.manifest.json`);
    expect(m1.image.digest.algorithm).toBe('dm-verity-sha256-4k-nosalt');
    expect(m1.image.digest.recompute).toMatch(/^veritysetup format --no-superblock --salt=- /);
    expect(m1.image.digest.rootHash).toBe(await veritysetupRoot(img));
    expect(m1.image.digest.dataBlocks).toBe(statSync(img).size / 4096);

    r = await imgbuild(['update', img, '--from', usr2], { env });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const m2 = manifest(`${img}.manifest.json`);
    expect(m2.image.digest.rootHash).not.toBe(m1.image.digest.rootHash);
    expect(m2.image.digest.rootHash).toBe(await veritysetupRoot(img));

    r = await imgbuild(['verify', img, '--json']);
    expect(r.exitCode, String(r.stdout)).toBe(0);
    let j = JSON.parse(String(r.stdout));
    expect(j.imageUnchanged).toBe(true);
    expect(j.checks.find((c: any) => c.region === 'image')).toMatchObject({ name: 'digest', status: 'info', found: m2.image.digest.rootHash });

    // A writable partition's byte: every check passes, the identity digest says it differs.
    const root = m2.partitions.find((p: any) => p.role === 'root');
    const fd = openSync(img, 'r+');
    writeSync(fd, Buffer.from([1]), 0, 1, root.firstLba * 512 + 12345);
    closeSync(fd);
    r = await imgbuild(['verify', img, '--json']);
    j = JSON.parse(String(r.stdout));
    expect(j.ok).toBe(true);
    expect(j.imageUnchanged).toBe(false);
    expect(j.checks.find((c: any) => c.region === 'image').detail).toMatch(/^differs/);
  });

  it("an update takes the running slot from its tree, so a damaged running slot is recorded as built, not laundered", async () => {
    const img = join(dir, 'damaged.raw');
    let r = await imgbuild(['build', '--from', usr1, '--kernel', kernel, '--initrd', initrd, '--seed', 'd', '-o', img], { env });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const a = manifest(`${img}.manifest.json`);
    const at = a.partitions.find((p: any) => p.number === a.slots.A.partition).firstLba * 512 + 4096 * 3 + 7;
    const fd = openSync(img, 'r+');
    const orig = Buffer.alloc(1);
    readSync(fd, orig, 0, 1, at);
    writeSync(fd, Buffer.from([orig[0] ^ 0x40]), 0, 1, at);
    r = await imgbuild(['update', img, '--from', usr2], { env });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const m = manifest(`${img}.manifest.json`);
    // The digest is that of the image as built and updated: it differs from the damaged file, and
    // veritysetup recomputes it once the byte is put back.
    expect(m.image.digest.rootHash).not.toBe(await veritysetupRoot(img));
    r = await imgbuild(['verify', img, '--json']);
    expect(r.exitCode).toBe(1);
    expect(JSON.parse(String(r.stdout)).imageUnchanged).toBe(false);
    writeSync(fd, orig, 0, 1, at);
    closeSync(fd);
    expect(m.image.digest.rootHash).toBe(await veritysetupRoot(img));
  });

  it('an image whose running slot has a salted tree (built before slot trees lost their salt) is updated, its slot read in full', async () => {
    const img = join(dir, 'salted.raw');
    let r = await imgbuild(['build', '--from', usr1, '--kernel', kernel, '--initrd', initrd, '--seed', 'd', '-o', img], { env });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const mp = `${img}.manifest.json`;
    const m = manifest(mp);
    const start = m.partitions.find((p: any) => p.number === m.slots.A.partition).firstLba * 512;
    const salted = await formatVerity({ dataPath: img, dataOffset: start, dataBlocks: m.slots.A.dataBlocks, hashPath: img, hashOffset: start + m.slots.A.hashOffset, salt: Buffer.alloc(32, 0x11), uuid: m.slots.A.superblockUuid });
    expect(salted.rootHash).not.toBe(m.slots.A.rootHash);
    Object.assign(m.slots.A, { salt: salted.salt, rootHash: salted.rootHash });
    writeFileSync(mp, JSON.stringify(m));
    r = await imgbuild(['update', img, '--from', usr2], { env });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const m2 = manifest(mp);
    expect(m2.slots.A.salt).toBe('11'.repeat(32));
    expect(m2.slots.B.salt).toBeNull();
    expect(m2.image.digest.rootHash).toBe(await veritysetupRoot(img));
  });

  it('a /usr large enough for the worker threads (copied and sealed in one pass; the digest takes its leaf level)', async () => {
    // A real squashfs head (the build checks the superblock) and 80 MiB of random bytes after it.
    const big = (name: string) => {
      const p = join(dir, name);
      const head = readFileSync(usr1);
      const fd = openSync(p, 'w');
      writeSync(fd, head, 0, head.length, 0);
      for (let at = head.length; at < 80 << 20; at += 8 << 20) writeSync(fd, randomBytes(8 << 20), 0, 8 << 20, at);
      closeSync(fd);
      return p;
    };
    const img = join(dir, 'big.raw');
    let r = await imgbuild(['build', '--from', big('big1.squashfs'), '--kernel', kernel, '--initrd', initrd, '--layout', 'mini', '-o', img], { env });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(manifest(`${img}.manifest.json`).image.digest.rootHash).toBe(await veritysetupRoot(img));
    r = await imgbuild(['update', img, '--from', big('big2.squashfs')], { env });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(manifest(`${img}.manifest.json`).image.digest.rootHash).toBe(await veritysetupRoot(img));
    // verify reads each slot once: for its tree; the digest then takes the proven slots' leaf levels.
    r = await imgbuild(['verify', img, '--json']);
    expect(r.exitCode, String(r.stdout)).toBe(0);
    const j = JSON.parse(String(r.stdout));
    expect(j.imageUnchanged).toBe(true);
    const read = Number(/(\d+) bytes of data read/.exec(j.checks.find((c: any) => c.region === 'image').detail)![1]);
    expect(read).toBeLessThan(40 << 20); // the two slots hold 160 MiB of /usr
  });

  it('--image-sha256 keeps the plain sha256 of the whole image too', async () => {
    const img = join(dir, 'sha.raw');
    const r = await imgbuild(['build', '--from', usr1, '--kernel', kernel, '--initrd', initrd, '--image-sha256', '-o', img], { env });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const m = manifest(`${img}.manifest.json`);
    expect(m.image.sha256).toBe(String((await tool('sha256sum', [img])).stdout).split(' ')[0]);
    expect(m.image.digest.rootHash).toBe(await veritysetupRoot(img));
  });

  it("qemu_uefi: the bundle's raw form, after a build and after an update", async () => {
    const out = join(dir, 'vm');
    let r = await imgbuild(['build', '--from', usr1, '--kernel', kernel, '--initrd', initrd, '--format', 'qemu_uefi', '-o', out], { env });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const raw = join(dir, 'vm.raw');
    await tool('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', join(out, 'vm.qcow2'), raw]);
    expect(manifest(join(out, 'vm.manifest.json')).image.digest.rootHash).toBe(await veritysetupRoot(raw));
    r = await imgbuild(['update', out, '--from', usr2], { env });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    await tool('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', join(out, 'vm.qcow2'), raw]);
    expect(manifest(join(out, 'vm.manifest.json')).image.digest.rootHash).toBe(await veritysetupRoot(raw));
  });
});
