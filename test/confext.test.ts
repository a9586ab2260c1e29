/**
 * `imgbuild confext build`: sysext build's pipeline with the confext target (packages/core/src/sysext/
 * kind.ts), judged by the reference tools: sgdisk -v and sfdisk on the DDI (a root + root-verity pair,
 * as systemd-confext 254 uses a disk image), veritysetup verify with the root hash (a changed byte
 * fails), unsquashfs for etc/extension-release.d/extension-release.NAME and the tree, a byte-identical
 * rebuild, transfer files that land in /var/lib/confexts, systemd-dissect when it runs here.
 * test/boot/provision.test.ts has systemd-confext 254 merge one on the example OS.
 */
import { execa } from 'execa';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { imgbuild, tempDir, tool } from './helpers.js';

const work = tempDir('imgbuild-confext-');

function makeTree(dir: string, says = 'hello'): string {
  mkdirSync(join(dir, 'etc/site'), { recursive: true });
  writeFileSync(join(dir, 'etc/site/motd'), `${says} from a confext\n`);
  writeFileSync(join(dir, 'etc/site/data.bin'), Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919 + (i >> 8) * 31) & 0xff)));
  return dir;
}

async function build(args: string[]) {
  const r = await imgbuild(['confext', 'build', ...args, '--json']);
  if (r.exitCode !== 0) throw new Error(`confext build failed: ${r.stderr}`);
  return JSON.parse(String(r.stdout));
}

interface SfdiskPart { start: number; size: number; type: string; uuid: string; name: string }
const sfdisk = async (image: string): Promise<SfdiskPart[]> => JSON.parse(String((await tool('sfdisk', ['--json', image])).stdout)).partitiontable.partitions;
async function extract(image: string, p: SfdiskPart, out: string): Promise<string> {
  await tool('dd', [`if=${image}`, `of=${out}`, 'bs=512', `skip=${p.start}`, `count=${p.size}`, 'status=none']);
  return out;
}

const tree = makeTree(join(work, 'tree'));
const flagsAt = (version: string) => ['--from-dir', tree, '--name', 'site', '--version', version, '--os-id', 'debian', '--confext-level', '2'];
const flags = flagsAt('1');

describe('imgbuild confext build', () => {
  let first: any;

  it('writes a DDI with root + root-verity that sgdisk finds sound, and the root hash beside it', async () => {
    mkdirSync(join(work, 'a'));
    first = await build([...flags, '-o', join(work, 'a/site-1-x86-64.raw')]);
    expect(first).toMatchObject({ kind: 'confext', name: 'site', version: '1', format: 'ddi', fs: 'squashfs', arch: 'x86-64' });
    expect(String((await tool('sgdisk', ['-v', first.output])).stdout)).toContain('No problems found');
    const parts = await sfdisk(first.output);
    // a root partition (systemd-confext 254 does not use a usr partition of a disk image) and its verity
    expect(parts.map((p) => [p.type, p.name])).toEqual([
      ['4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709', 'root-x86-64'],
      ['2C7357ED-EBD2-46D9-AEC1-23D437EC2BF5', 'root-x86-64-verity'],
    ]);
    expect(readFileSync(first.roothashFile, 'utf8')).toBe(`${first.rootHash}\n`);
  });

  it('veritysetup checks the root partition against its hash tree with the root hash; a changed byte fails', async () => {
    const [root, hash] = await sfdisk(first.output);
    const data = await extract(first.output, root, join(work, 'root.part'));
    const tree = await extract(first.output, hash, join(work, 'verity.part'));
    await tool('veritysetup', ['verify', data, tree, first.rootHash]);
    const bad = readFileSync(data);
    bad[4096 + 17] ^= 1;
    writeFileSync(join(work, 'root-bad.part'), bad);
    expect((await tool('veritysetup', ['verify', join(work, 'root-bad.part'), tree, first.rootHash], { reject: false })).exitCode).not.toBe(0);
  });

  it('holds etc/extension-release.d/extension-release.NAME with CONFEXT_LEVEL=, and the etc/ tree', async () => {
    const data = join(work, 'root.part');
    const rel = await tool('unsquashfs', ['-cat', data, 'etc/extension-release.d/extension-release.site'], { stripFinalNewline: false });
    expect(String(rel.stdout)).toBe('ID=debian\nCONFEXT_LEVEL=2\nARCHITECTURE=x86-64\n');
    expect(first.extensionRelease.path).toBe('etc/extension-release.d/extension-release.site');
    const list = String((await tool('unsquashfs', ['-lls', data])).stdout);
    expect(list).toMatch(/-rw-r--r-- root\/root .* squashfs-root\/etc\/site\/motd/);
    expect(list).not.toContain('squashfs-root/usr');
  });

  it('is reproducible: the same tree built in another folder gives the same bytes; another tree another root hash', async () => {
    mkdirSync(join(work, 'b'));
    const again = await build([...flags, '-o', join(work, 'b/site-1-x86-64.raw')]);
    expect(readFileSync(again.output).equals(readFileSync(first.output))).toBe(true);
    const other = await build(['--from-dir', makeTree(join(work, 'tree2'), 'bye'), '--name', 'site', '--version', '1', '-o', join(work, 'b/other.raw')]);
    expect(other.rootHash).not.toBe(first.rootHash);
  });

  it('systemd-dissect (when it runs here) finds the root and root-verity partitions', async (ctx) => {
    const r = await execa('systemd-dissect', ['--json=short', '--no-pager', first.output], { reject: false }).catch(() => undefined);
    if (!r || r.exitCode !== 0) return ctx.skip(); // not installed, or no loop devices
    const d = JSON.parse(String(r.stdout));
    const by = Object.fromEntries(d.mounts.map((m: any) => [m.designator, m]));
    expect(by.root).toMatchObject({ partition_uuid: first.partitions[0].uuid, fstype: 'squashfs', architecture: 'x86-64' });
    expect(by['root-verity']).toMatchObject({ partition_uuid: first.partitions[1].uuid });
  });

  it('publishes transfers that install into /var/lib/confexts.d with /var/lib/confexts/NAME.raw current', async () => {
    const rel = join(work, 'release');
    const r = await build([...flagsAt('3'), '--sysupdate', rel, '--sysupdate-source', 'https://example.org/site/']);
    expect(r.output).toBe(join(rel, 'site-3-x86-64.raw'));
    const conf = readFileSync(join(rel, 'site.conf'), 'utf8');
    expect(conf).toContain('systemd-confext merges /var/lib/confexts/site.raw');
    expect(conf).toMatch(/\[Target\]\nType=regular-file\nPath=\/var\/lib\/confexts\.d\nMatchPattern=site-@v-x86-64\.raw\nCurrentSymlink=\/var\/lib\/confexts\/site\.raw/);
    expect(readFileSync(join(rel, 'site.roothash.conf'), 'utf8')).toContain('CurrentSymlink=/var/lib/confexts/site.roothash');
    expect((await tool('sha256sum', ['-c', 'SHA256SUMS'], { cwd: rel })).exitCode).toBe(0);
  });

  it('refuses a tree with anything but etc/, and the sysext-only flag (one line each)', async () => {
    const bad = makeTree(join(work, 'bad'));
    mkdirSync(join(bad, 'usr/bin'), { recursive: true });
    const r = await imgbuild(['confext', 'build', '--from-dir', bad, '--name', 'x', '--version', '1', '-o', join(work, 'x.raw')]);
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr).trim()).toMatch(/bad: usr is outside etc\/: systemd-confext merges only that \(move it under etc\/\)$/);
    const lvl = await imgbuild(['confext', 'build', '--from-dir', tree, '--name', 'x', '--version', '1', '--sysext-level', '1', '-o', join(work, 'x.raw')]);
    expect(lvl.exitCode).toBe(2);
    const named = await imgbuild(['confext', 'build', '--from-dir', tree, '--name', 'x', '--version', '1', '--os-id', 'debian', '-o', join(work, 'x.raw')]);
    expect(named.exitCode).toBe(2);
    expect(String(named.stderr)).toMatch(/--os-id debian needs --confext-level or --os-version-id: systemd-confext refuses/);
  });
});
