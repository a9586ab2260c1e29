/**
 * `build --root-tree`: ROOT formatted as ext4 from a tree, inside the image file at the partition's
 * offset. Byte-identical across builds (tree made in another order, at another time), clean for
 * e2fsck, named on the UKI command line (root=PARTUUID=… rw) and kept there by update; verify passes
 * and reports ROOT as not covered.
 */
import { execa } from 'execa';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { fakeBzImage, imgbuild, tempDir, tool } from './helpers.js';

const dir = tempDir('imgbuild-root-tree-');
const kernel = join(dir, 'vmlinuz');
const initrd = join(dir, 'initrd.img');
const env = { SOURCE_DATE_EPOCH: '1700000000' };
const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

/** A small root tree; `reverse` creates its entries in the opposite order. */
async function tree(name: string, reverse: boolean): Promise<string> {
  const t = join(dir, name);
  const files = Array.from({ length: 40 }, (_, i) => `etc/f${i}`);
  mkdirSync(join(t, 'etc/systemd'), { recursive: true });
  mkdirSync(join(t, 'var/lib'), { recursive: true });
  mkdirSync(join(t, 'usr'));
  for (const f of reverse ? files.reverse() : files) writeFileSync(join(t, f), `${f}\n`);
  writeFileSync(join(t, 'etc/machine-id'), '');
  for (const l of reverse ? ['lib', 'bin'] : ['bin', 'lib']) symlinkSync(`usr/${l}`, join(t, l));
  await execa('sh', ['-c', 'find "$1" -exec touch -h -d @1700000000 {} +', 'sh', t]);
  return t;
}

function build(out: string, root: string, extra: string[] = []) {
  return imgbuild(['build', '--from', join(dir, 'usr.sqfs'), '--kernel', kernel, '--initrd', initrd, '--layout', 'mini', '--seed', 'root', '--root-tree', root, '-o', out, ...extra], { env });
}

beforeAll(async () => {
  writeFileSync(kernel, fakeBzImage());
  writeFileSync(initrd, randomBytes(50_000));
  mkdirSync(join(dir, 'usr/lib'), { recursive: true });
  writeFileSync(join(dir, 'usr/lib/os-release'), 'ID=test\nVERSION_ID=1\n');
  await tool('mksquashfs', [join(dir, 'usr'), join(dir, 'usr.sqfs'), '-noappend', '-all-root', '-quiet', '-no-progress']);
});

describe('build --root-tree', { timeout: 120_000 }, () => {
  let manifest: { rootFs: { number: number; partuuid: string; fsUuid: string; sha256: string; bytes: number }; partitions: { number: number; role: string; firstLba: number; uuid: string }[]; boot: { slots: Record<string, { cmdline: string }> } };

  it('gives byte-identical images from trees made in another order, a second later', async () => {
    const a = await build(join(dir, 'a.raw'), await tree('t1', false));
    expect(a.exitCode, String(a.stderr)).toBe(0);
    await new Promise((r) => setTimeout(r, 1100));
    const b = await build(join(dir, 'b.raw'), await tree('t2', true));
    expect(b.exitCode, String(b.stderr)).toBe(0);
    expect(sha(join(dir, 'a.raw'))).toBe(sha(join(dir, 'b.raw')));
    manifest = JSON.parse(readFileSync(join(dir, 'a.raw.manifest.json'), 'utf8'));
  });

  it('records ROOT and names it on the command line; e2fsck finds the tree in it', async () => {
    const root = manifest.partitions.find((p) => p.role === 'root')!;
    expect(manifest.rootFs).toMatchObject({ number: root.number, partuuid: root.uuid });
    expect(manifest.boot.slots.A.cmdline).toContain(`imgbuild.slot=A root=PARTUUID=${root.uuid} rootfstype=ext4 rw`);
    const part = join(dir, 'root.ext4');
    await tool('dd', [`if=${join(dir, 'a.raw')}`, `of=${part}`, 'bs=512', `skip=${root.firstLba}`, `count=${manifest.rootFs.bytes / 512}`, 'status=none']);
    expect(sha(part)).toBe(manifest.rootFs.sha256);
    const fsck = await tool('e2fsck', ['-fn', part], { reject: false });
    expect(fsck.exitCode, String(fsck.stdout)).toBe(0);
    expect(String((await tool('blkid', ['-o', 'value', '-s', 'UUID', part])).stdout).trim()).toBe(manifest.rootFs.fsUuid);
    const ls = String((await tool('debugfs', ['-R', 'ls -p /etc', part])).stdout);
    expect(ls).toContain('/f39/');
    const stat = String((await tool('debugfs', ['-R', 'stat /etc/f1', part])).stdout);
    expect(stat).toMatch(/ctime: 0x6553f100/); // SOURCE_DATE_EPOCH, not the time the tree was copied
  });

  it('verify passes and reports ROOT as not covered', async () => {
    const v = await imgbuild(['verify', join(dir, 'a.raw')]);
    expect(v.exitCode, String(v.stdout) + String(v.stderr)).toBe(0);
    expect(String(v.stdout)).toMatch(/not covered:.*ROOT/);
  });

  it('update keeps root= on the new slot', async () => {
    const u = await imgbuild(['update', join(dir, 'a.raw'), '--from', join(dir, 'usr.sqfs')], { env });
    expect(u.exitCode, String(u.stderr)).toBe(0);
    const m = JSON.parse(readFileSync(join(dir, 'a.raw.manifest.json'), 'utf8'));
    expect(m.boot.slots.B.cmdline).toContain(`imgbuild.slot=B root=PARTUUID=${manifest.rootFs.partuuid} rootfstype=ext4 rw`);
    expect(m.rootFs).toEqual(manifest.rootFs);
  });

  it('refuses root= in --cmdline, a tree without usr/, a layout without ROOT', async () => {
    const t = join(dir, 't1');
    const r1 = await build(join(dir, 'c.raw'), t, ['--cmdline', 'root=/dev/sda1']);
    expect(r1.exitCode).toBe(2);
    expect(String(r1.stderr)).toMatch(/may not set root/);
    mkdirSync(join(dir, 'nousr'));
    const r2 = await build(join(dir, 'd.raw'), join(dir, 'nousr'));
    expect(r2.exitCode).toBe(1);
    expect(String(r2.stderr)).toMatch(/usr\//);
  });
});
