/**
 * `imgbuild sysext build` judged by the reference tools: sgdisk -v and sfdisk --json on the DDI,
 * veritysetup verify of the root partition against the root-verity partition, unsquashfs/fsck.erofs for
 * the extension-release file, systemd-dissect (when installed and loop devices work) for what systemd
 * itself discovers, sha256sum -c for the release folder. Here the transfer files are judged by their
 * text; test/boot/sysext.test.ts runs them through systemd-sysupdate 254 on the example OS.
 */
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { imgbuild, tempDir, tool } from './helpers.js';

const work = tempDir('imgbuild-sysext-');

function makeTree(dir: string, extra = ''): string {
  mkdirSync(join(dir, 'usr/bin'), { recursive: true });
  mkdirSync(join(dir, 'usr/share/hello'), { recursive: true });
  mkdirSync(join(dir, 'opt/hello'), { recursive: true });
  writeFileSync(join(dir, 'usr/bin/hello'), `#!/bin/sh\necho hello from a sysext${extra}\n`);
  chmodSync(join(dir, 'usr/bin/hello'), 0o755);
  // Enough data for a real tree (several leaf hashes), incompressible so the image is not one block.
  writeFileSync(join(dir, 'usr/share/hello/data.bin'), Buffer.from(Array.from({ length: 600_000 }, (_, i) => (i * 7919 + (i >> 8) * 31) & 0xff)));
  writeFileSync(join(dir, 'opt/hello/README'), 'optional\n');
  return dir;
}

async function build(args: string[]) {
  const r = await imgbuild(['sysext', 'build', ...args, '--json']);
  if (r.exitCode !== 0) throw new Error(`sysext build failed: ${r.stderr}`);
  return JSON.parse(String(r.stdout));
}

interface SfdiskPart { start: number; size: number; type: string; uuid: string; name: string; attrs?: string }

async function sfdisk(image: string): Promise<SfdiskPart[]> {
  const r = await tool('sfdisk', ['--json', image]);
  return JSON.parse(String(r.stdout)).partitiontable.partitions;
}

/** Copies one partition out of the image with dd, as a user would. */
async function extract(image: string, p: SfdiskPart, out: string): Promise<string> {
  await tool('dd', [`if=${image}`, `of=${out}`, 'bs=512', `skip=${p.start}`, `count=${p.size}`, 'status=none']);
  return out;
}

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

const tree = makeTree(join(work, 'tree'));

describe('imgbuild sysext build --format ddi', () => {
  const outA = join(work, 'a');
  const outB = join(work, 'b');
  mkdirSync(outA);
  mkdirSync(outB);
  const flags = ['--from-dir', tree, '--name', 'hello', '--version', '1.0', '--os-id', 'debian', '--os-version-id', '12'];
  let first: any;

  it('writes NAME-VERSION-ARCH.raw, a GPT that sgdisk finds sound, with the UAPI types, root-hash UUIDs and repart labels', async () => {
    first = await build([...flags, '-o', join(outA, 'hello-1.0-x86-64.raw')]);
    const image = first.output;
    expect(image.endsWith('hello-1.0-x86-64.raw')).toBe(true);
    const v = await tool('sgdisk', ['-v', image]);
    expect(String(v.stdout)).toContain('No problems found');

    const parts = await sfdisk(image);
    expect(parts).toHaveLength(2);
    const rh: string = first.rootHash;
    const asUuid = (h: string) => `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`.toUpperCase();
    expect(parts[0]).toMatchObject({ type: '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709', uuid: asUuid(rh.slice(0, 32)), name: 'root-x86-64', attrs: 'GUID:60' });
    expect(parts[1]).toMatchObject({ type: '2C7357ED-EBD2-46D9-AEC1-23D437EC2BF5', uuid: asUuid(rh.slice(32)), name: 'root-x86-64-verity', attrs: 'GUID:60' });
    expect(parts[0].start).toBe(2048);
    expect(parts[1].start).toBe(parts[0].start + parts[0].size);
    expect(sha256(image)).toBe(first.sha256);
    // the root hash file beside it, which systemd-sysext needs to check the image with dm-verity
    expect(first.roothashFile).toBe(join(outA, 'hello-1.0-x86-64.roothash'));
    expect(readFileSync(first.roothashFile, 'utf8')).toBe(`${rh}\n`);
  });

  it('veritysetup verifies the root partition against the root-verity partition with the root hash', async () => {
    const image = first.output;
    const [usr, hash] = await sfdisk(image);
    const data = await extract(image, usr, join(work, 'usr.part'));
    const tree = await extract(image, hash, join(work, 'verity.part'));
    await tool('veritysetup', ['verify', data, tree, first.rootHash]);
    const dump = String((await tool('veritysetup', ['dump', tree])).stdout);
    expect(dump).toMatch(new RegExp(`Data blocks:\\s+${usr.size / 8}\\b`));
    // A changed byte in the filesystem is caught.
    const bad = readFileSync(data);
    bad[100] ^= 1;
    writeFileSync(join(work, 'usr-bad.part'), bad);
    expect((await tool('veritysetup', ['verify', join(work, 'usr-bad.part'), tree, first.rootHash], { reject: false })).exitCode).not.toBe(0);
  });

  it('holds the extension-release file written from the flags, and the tree (usr/ and opt/)', async () => {
    const data = join(work, 'usr.part');
    const rel = await tool('unsquashfs', ['-cat', data, 'usr/lib/extension-release.d/extension-release.hello'], { stripFinalNewline: false });
    expect(String(rel.stdout)).toBe('ID=debian\nVERSION_ID=12\nARCHITECTURE=x86-64\n');
    const list = String((await tool('unsquashfs', ['-lls', data])).stdout);
    expect(list).toMatch(/-rwxr-xr-x root\/root .* squashfs-root\/usr\/bin\/hello/);
    expect(list).toContain('squashfs-root/opt/hello/README');
    // The user's tree is not changed.
    expect(existsSync(join(tree, 'usr/lib/extension-release.d'))).toBe(false);
  });

  it('is reproducible: the same tree built in another folder gives the same bytes', async () => {
    const again = await build([...flags, '-o', join(outB, 'hello-1.0-x86-64.raw')]);
    expect(again.sha256).toBe(first.sha256);
    expect(readFileSync(again.output).equals(readFileSync(first.output))).toBe(true);
  });

  it('a different tree gives a different root hash and partition UUIDs', async () => {
    const other = makeTree(join(work, 'tree2'), ' (v2)');
    const r = await build(['--from-dir', other, '--name', 'hello', '--version', '1.0', '--os-id', 'debian', '--os-version-id', '12', '-o', join(outB, 'other.raw')]);
    expect(r.rootHash).not.toBe(first.rootHash);
    expect(r.partitions[0].uuid).not.toBe(first.partitions[0].uuid);
    expect(r.partitions[1].uuid).not.toBe(first.partitions[1].uuid);
  });

  it('systemd-dissect (when it runs here) finds root and root-verity for x86-64 with our UUIDs', async (ctx) => {
    const r = await execa('systemd-dissect', ['--json=short', '--no-pager', first.output], { reject: false }).catch(() => undefined);
    if (!r || r.exitCode !== 0) return ctx.skip(); // not installed (systemd-container), or no loop devices
    const d = JSON.parse(String(r.stdout));
    const byDesignator = Object.fromEntries(d.mounts.map((m: any) => [m.designator, m]));
    expect(byDesignator.root).toMatchObject({ partition_uuid: first.partitions[0].uuid, partition_label: 'root-x86-64', fstype: 'squashfs', architecture: 'x86-64', rw: 'ro' });
    expect(byDesignator['root-verity']).toMatchObject({ partition_uuid: first.partitions[1].uuid, fstype: 'DM_verity_hash', architecture: 'x86-64' });
  });

  it('--fs erofs: an erofs root partition that verifies and holds the extension-release file, reproducibly', async () => {
    const o1 = join(outA, 'hello-erofs.raw');
    const r = await build([...flags, '--fs', 'erofs', '-o', o1]);
    const r2 = await build([...flags, '--fs', 'erofs', '-o', join(outB, 'hello-erofs.raw')]);
    expect(r2.sha256).toBe(r.sha256);
    const [usr, hash] = await sfdisk(o1);
    const data = await extract(o1, usr, join(work, 'erofs.part'));
    await tool('veritysetup', ['verify', data, await extract(o1, hash, join(work, 'erofs-verity.part')), r.rootHash]);
    const x = join(work, 'erofs-x');
    await tool('fsck.erofs', [`--extract=${x}`, data]);
    expect(readFileSync(join(x, 'usr/lib/extension-release.d/extension-release.hello'), 'utf8')).toBe('ID=debian\nVERSION_ID=12\nARCHITECTURE=x86-64\n');
    expect(readFileSync(join(x, 'usr/bin/hello'), 'utf8')).toContain('hello from a sysext');
  });
});

describe('imgbuild sysext build --format squashfs', () => {
  it('writes the bare squashfs with the extension-release file', async () => {
    const out = join(work, 'plain.raw');
    const r = await build(['--from-dir', tree, '--name', 'hello', '--version', '1.0', '--format', 'squashfs', '-o', out]);
    expect(r.partitions).toEqual([]);
    expect(r.rootHash).toBeNull(); // an absent value is null in every --json output
    expect(readFileSync(out).subarray(0, 4).toString('latin1')).toBe('hsqs');
    expect(String((await tool('unsquashfs', ['-cat', out, 'usr/lib/extension-release.d/extension-release.hello'], { stripFinalNewline: false })).stdout)).toBe('ID=_any\nARCHITECTURE=x86-64\n');
  });
});

describe('imgbuild sysext build --sysupdate', () => {
  it('publishes the image and its .roothash, NAME.conf, NAME.roothash.conf and a SHA256SUMS that sha256sum -c accepts, version after version', async () => {
    const rel = join(work, 'release');
    mkdirSync(rel);
    const src = ['--sysupdate-source', 'https://example.org/hello/'];
    const r1 = await build(['--from-dir', tree, '--name', 'hello', '--version', '1.0', '--sysupdate', rel, ...src]);
    expect(r1.output).toBe(join(rel, 'hello-1.0-x86-64.raw'));
    const r2 = await build(['--from-dir', makeTree(join(work, 'tree3'), ' 1.1'), '--name', 'hello', '--version', '1.1', '--sysupdate', rel, ...src]);
    const transfer = readFileSync(join(rel, 'hello.conf'), 'utf8');
    expect(transfer).toContain('[Source]\nType=url-file\nPath=https://example.org/hello/\nMatchPattern=hello-@v-x86-64.raw\n');
    expect(transfer).toContain('[Target]\nType=regular-file\nPath=/var/lib/extensions.d\nMatchPattern=hello-@v-x86-64.raw\nCurrentSymlink=/var/lib/extensions/hello.raw\n');
    const hashTransfer = readFileSync(join(rel, 'hello.roothash.conf'), 'utf8');
    expect(hashTransfer).toContain('[Source]\nType=url-file\nPath=https://example.org/hello/\nMatchPattern=hello-@v-x86-64.roothash\n');
    expect(hashTransfer).toContain('[Target]\nType=regular-file\nPath=/var/lib/extensions.d\nMatchPattern=hello-@v-x86-64.roothash\nCurrentSymlink=/var/lib/extensions/hello.roothash\n');
    const sums = readFileSync(join(rel, 'SHA256SUMS'), 'utf8');
    expect(sums).toContain(`${r1.sha256}  hello-1.0-x86-64.raw\n`);
    expect(sums).toContain(`${r2.sha256}  hello-1.1-x86-64.raw\n`);
    expect(sums).toMatch(/^[0-9a-f]{64} {2}hello-1\.1-x86-64\.roothash$/m);
    await tool('sha256sum', ['-c', '--strict', 'SHA256SUMS'], { cwd: rel });
    // -o and --sysupdate together are a usage error: the published name is fixed.
    expect((await imgbuild(['sysext', 'build', '--from-dir', tree, '--name', 'hello', '--version', '1.2', '--sysupdate', rel, '-o', 'x.raw'])).exitCode).toBe(2);
  });
});

describe('imgbuild sysext build refusals', () => {
  const base = (dir: string, out: string) => ['sysext', 'build', '--from-dir', dir, '--name', 'hello', '--version', '1.0', '-o', out];

  it('refuses a tree with a file outside usr/ and opt/, naming it', async () => {
    const t = makeTree(join(work, 'bad-etc'));
    mkdirSync(join(t, 'etc'));
    writeFileSync(join(t, 'etc/hello.conf'), 'x\n');
    const out = join(work, 'bad-etc.raw');
    const r = await imgbuild(base(t, out));
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe(`imgbuild: ${t}: etc is outside usr/ and opt/: systemd-sysext merges only those (move it under usr/)`);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses an extension-release in the tree that disagrees with the flags, naming the key and both values', async () => {
    const t = join(work, 'bad-release');
    cpSync(tree, t, { recursive: true });
    mkdirSync(join(t, 'usr/lib/extension-release.d'), { recursive: true });
    writeFileSync(join(t, 'usr/lib/extension-release.d/extension-release.hello'), 'ID=fedora\nVERSION_ID=12\n');
    const r = await imgbuild([...base(t, join(work, 'bad-release.raw')), '--os-id', 'debian', '--os-version-id', '12']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('ID is "fedora" in the tree but --os-id gives "debian"');
    expect(String(r.stderr).split('\n')).toHaveLength(1);
    // One that agrees is kept, completed with what it lacks.
    writeFileSync(join(t, 'usr/lib/extension-release.d/extension-release.hello'), '# ours\nID=debian\n');
    const ok = await imgbuild([...base(t, join(work, 'good-release.raw')), '--os-id', 'debian', '--os-version-id', '12', '--format', 'squashfs']);
    expect(ok.exitCode).toBe(0);
    const text = await tool('unsquashfs', ['-cat', join(work, 'good-release.raw'), 'usr/lib/extension-release.d/extension-release.hello'], { stripFinalNewline: false });
    expect(String(text.stdout)).toBe('# ours\nID=debian\nVERSION_ID=12\nARCHITECTURE=x86-64\n');
  });

  it('refuses an existing output without --force, replaces it with --force', async () => {
    const out = join(work, 'exists.raw');
    writeFileSync(out, 'keep me');
    const r = await imgbuild([...base(tree, out), '--format', 'squashfs']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe(`imgbuild: ${out}: output exists (use --force to overwrite)`);
    expect(readFileSync(out, 'utf8')).toBe('keep me');
    expect((await imgbuild([...base(tree, out), '--format', 'squashfs', '--force'])).exitCode).toBe(0);
    expect(readFileSync(out).subarray(0, 4).toString('latin1')).toBe('hsqs');
  });

  it('usage errors exit 2 in one line: a bad --version, a named OS without a level, erofs as a plain image', async () => {
    const out = join(work, 'usage.raw');
    const bad = await imgbuild(['sysext', 'build', '--from-dir', tree, '--name', 'hello', '--version', '1.0/../../x', '-o', out]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('--version must start with a letter or digit');
    expect((await imgbuild([...base(tree, out), '--os-id', 'debian'])).exitCode).toBe(2);
    expect((await imgbuild([...base(tree, out), '--fs', 'erofs', '--format', 'squashfs'])).exitCode).toBe(2);
    expect((await imgbuild([...base(tree, out), '--arch', 'riscv64'])).exitCode).toBe(2);
    expect(existsSync(out)).toBe(false);
  });
});
