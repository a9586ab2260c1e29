/**
 * `imgbuild publish` and the feed it writes (packages/core/src/feed/), without booting:
 *   - the feed's files: SHA256SUMS (sha256sum -c), its detached signature (gpgv with the public key
 *     only), the channel index, the per-version manifest;
 *   - the payload and UKI are byte for byte what an offline `imgbuild update` of a copy of the same
 *     image writes (data and verity area of the slot, the UKI on the ESP, root hash, PARTUUID, label);
 *   - a version published twice is refused, the channel untouched; a second version makes a new
 *     generation whose old files are hard links, and the channel symlink moves only when it is complete;
 *   - the example OS's sysupdate transfer templates and efi.mount are what the layout generates.
 */
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { closeSync, copyFileSync, existsSync, lstatSync, mkdirSync, openSync, readFileSync, readlinkSync, readSync, readdirSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadLayout, sysupdateTransfers } from '@imgbuild/core';
import { fakeBzImage, imgbuild, ROOT, tempDir, tool } from './helpers.js';

const dir = tempDir('imgbuild-feed-');
const gnupg = join(dir, 'gnupg');
const feed = join(dir, 'feed');
const img = join(dir, 'disk.raw');
const KEY = 'feed-test@imgbuild.invalid';
const env = { SOURCE_DATE_EPOCH: '1700000000' };
const usr = (v: string) => join(dir, `usr-${v}.squashfs`);
const kernel = join(dir, 'vmlinuz');
const initrd = join(dir, 'initrd');

async function makeUsr(version: string) {
  const tree = join(dir, `tree-${version}`);
  mkdirSync(join(tree, 'lib'), { recursive: true });
  writeFileSync(join(tree, 'lib/os-release'), `ID=test\nVERSION_ID=${version}\nIMAGE_VERSION=${version}\n`);
  writeFileSync(join(tree, 'lib/blob'), createHash('sha256').update(version).digest().toString('hex').repeat(20000));
  await tool('mksquashfs', [tree, usr(version), '-noappend', '-all-root', '-quiet', '-mkfs-time', '1700000000', '-all-time', '1700000000']);
}

const publish = (channel: string, v: string, extra: string[] = []) =>
  imgbuild(['publish', feed, '--channel', channel, '--base', img, '--from', usr(v), '--gpg-key', KEY, '--gpg-homedir', gnupg, '--json', ...extra], { env });

function readRange(path: string, offset: number, length: number): Buffer {
  const b = Buffer.alloc(length);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, b, 0, length, offset);
  } finally {
    closeSync(fd);
  }
  return b;
}

beforeAll(async () => {
  mkdirSync(gnupg, { mode: 0o700 });
  await execa('gpg', ['--batch', '--homedir', gnupg, '--passphrase', '', '--quick-gen-key', `feed test <${KEY}>`, 'ed25519', 'sign', 'never']);
  await execa('gpg', ['--batch', '--homedir', gnupg, '--output', join(dir, 'pubring.gpg'), '--export', KEY]);
  for (const v of ['1', '2', '3']) await makeUsr(v);
  writeFileSync(kernel, fakeBzImage());
  writeFileSync(initrd, Buffer.alloc(4096, 7));
  const r = await imgbuild(['build', '--from', usr('1'), '--kernel', kernel, '--initrd', initrd, '--layout', 'sysupdate-mini', '--seed', 'feed-test', '-o', img], { env });
  expect(r.exitCode, String(r.stderr)).toBe(0);
}, 120_000);

describe('imgbuild publish', () => {
  let pub: { version: string; label: string; rootHash: string; partuuid: string; generation: string; files: { payload: string; uki: string; manifest: string }; payloadUncompressedBytes: number };

  it('writes a signed channel: SHA256SUMS checks, gpgv accepts the signature, index and manifest list the version', async () => {
    const r = await publish('stable', '2');
    expect(r.exitCode, String(r.stderr)).toBe(0);
    pub = JSON.parse(String(r.stdout));
    expect(pub).toMatchObject({ version: '2', label: 'imgbuild_2' });
    expect(pub.partuuid.replace(/-/g, '')).toBe(pub.rootHash.slice(0, 32));
    const ch = join(feed, 'stable');
    expect(lstatSync(ch).isSymbolicLink()).toBe(true);
    expect(readlinkSync(ch)).toBe('.stable.1');
    expect(readdirSync(ch).sort()).toEqual(['SHA256SUMS', 'SHA256SUMS.gpg', pub.files.uki, pub.files.manifest, pub.files.payload, 'index.json'].sort());
    expect(pub.files.payload).toBe(`imgbuild_2_${pub.partuuid}.usr.gz`);
    await tool('sha256sum', ['--strict', '-c', 'SHA256SUMS'], { cwd: ch });
    const v = await execa('gpgv', ['--keyring', join(dir, 'pubring.gpg'), join(ch, 'SHA256SUMS.gpg'), join(ch, 'SHA256SUMS')], { reject: false });
    expect(v.exitCode, String(v.stderr)).toBe(0);
    // a changed SHA256SUMS no longer verifies
    const sums = join(dir, 'SHA256SUMS.changed');
    writeFileSync(sums, readFileSync(join(ch, 'SHA256SUMS'), 'utf8').replace(/^./, (c) => (c === '0' ? '1' : '0')));
    expect((await execa('gpgv', ['--keyring', join(dir, 'pubring.gpg'), join(ch, 'SHA256SUMS.gpg'), sums], { reject: false })).exitCode).not.toBe(0);
    const index = JSON.parse(readFileSync(join(ch, 'index.json'), 'utf8'));
    expect(index).toMatchObject({ format: 'imgbuild-feed/1', channel: 'stable', name: 'imgbuild', versions: [{ version: '2', label: 'imgbuild_2', rootHash: pub.rootHash, ...pub.files }] });
    const m = JSON.parse(readFileSync(join(ch, pub.files.manifest), 'utf8'));
    expect(m.slot).toMatchObject({ label: 'imgbuild_2', partuuid: pub.partuuid, rootHash: pub.rootHash, salt: null });
    expect(m.boot.uki).toBe('EFI/Linux/imgbuild_2.efi');
    expect(m.boot.cmdline).toContain(`usrhash=${pub.rootHash}`);
    expect(m.boot.cmdline).toContain(`PARTUUID=${pub.partuuid}`);
    expect(m.boot.cmdline).toContain('imgbuild.version=2');
    expect(m.boot.cmdline).not.toContain('imgbuild.slot=');
  });

  it('the payload is a verity-sealed slot: veritysetup verifies it at the hash offset with the published root hash', async () => {
    const raw = join(dir, 'payload.raw');
    writeFileSync(raw, gunzipSync(readFileSync(join(feed, 'stable', pub.files.payload))));
    expect(statSync(raw).size).toBe(pub.payloadUncompressedBytes);
    const m = JSON.parse(readFileSync(join(feed, 'stable', pub.files.manifest), 'utf8'));
    await tool('veritysetup', ['verify', raw, raw, pub.rootHash, `--hash-offset=${m.slot.hashOffset}`]);
  });

  it('payload, UKI, root hash, label and PARTUUID are what an offline update of the same image writes', async () => {
    const copy = join(dir, 'offline.raw');
    copyFileSync(img, copy);
    copyFileSync(`${img}.manifest.json`, `${copy}.manifest.json`);
    const u = await imgbuild(['update', copy, '--from', usr('2'), '--json'], { env });
    expect(u.exitCode, String(u.stderr)).toBe(0);
    expect(JSON.parse(String(u.stdout)).rootHash).toBe(pub.rootHash);
    const st = await imgbuild(['slot', 'status', copy, '--json']);
    const b = JSON.parse(String(st.stdout)).slots.find((s: { slot: string }) => s.slot === 'B');
    expect(b).toMatchObject({ label: 'imgbuild_2', uuid: pub.partuuid });
    const mf = JSON.parse(readFileSync(`${copy}.manifest.json`, 'utf8'));
    const fm = JSON.parse(readFileSync(join(feed, 'stable', pub.files.manifest), 'utf8'));
    const payload = gunzipSync(readFileSync(join(feed, 'stable', pub.files.payload)));
    const at = b.firstLba * 512;
    const dataBytes = fm.slot.dataBlocks * 4096;
    expect(readRange(copy, at, dataBytes).equals(payload.subarray(0, dataBytes))).toBe(true);
    expect(readRange(copy, at + fm.slot.hashOffset, fm.slot.hashAreaSize).equals(payload.subarray(fm.slot.hashOffset))).toBe(true);
    expect(mf.slots.B).toMatchObject({ ...fm.slot, partition: b.number });
    expect(mf.boot.slots.B).toEqual(fm.boot);
    const esp = mf.partitions.find((p: { role: string }) => p.role === 'esp');
    const uki = await tool('mtype', ['-i', `${copy}@@${esp.firstLba * 512}`, '::/EFI/Linux/imgbuild_2.efi'], { encoding: 'buffer', stripFinalNewline: false, env: { MTOOLS_SKIP_CHECK: '1' } });
    expect(Buffer.compare(uki.stdout as unknown as Buffer, readFileSync(join(feed, 'stable', pub.files.uki)))).toBe(0);
    // and verify accepts the offline update (the same kind of image)
    const v = await imgbuild(['verify', copy]);
    expect(v.exitCode, String(v.stdout)).toBe(0);
  });

  it('refuses a version published twice, in one line, and leaves the channel as it was', async () => {
    const before = readlinkSync(join(feed, 'stable'));
    const r = await publish('stable', '2');
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr).trim().split('\n')).toHaveLength(1);
    expect(String(r.stderr)).toMatch(/version 2 is already published in channel stable/);
    expect(readlinkSync(join(feed, 'stable'))).toBe(before);
    expect(readdirSync(feed).sort()).toEqual(['.stable.1', 'stable']);
  });

  it('a second version is a new generation: old files hard-linked, the symlink swapped; channels are separate', async () => {
    const r = await publish('stable', '3');
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const p3 = JSON.parse(String(r.stdout));
    expect(readlinkSync(join(feed, 'stable'))).toBe('.stable.2');
    const old = statSync(join(feed, '.stable.1', pub.files.payload));
    const now = statSync(join(feed, '.stable.2', pub.files.payload));
    expect(now.ino).toBe(old.ino);
    // generation 1 is unchanged for a reader that started on it
    expect(readdirSync(join(feed, '.stable.1'))).not.toContain(p3.files.payload);
    await tool('sha256sum', ['--strict', '-c', 'SHA256SUMS'], { cwd: join(feed, '.stable.1') });
    await tool('sha256sum', ['--strict', '-c', 'SHA256SUMS'], { cwd: join(feed, 'stable') });
    const index = JSON.parse(readFileSync(join(feed, 'stable', 'index.json'), 'utf8'));
    expect(index.versions.map((v: { version: string }) => v.version)).toEqual(['2', '3']);
    const beta = await publish('beta', '3');
    expect(beta.exitCode, String(beta.stderr)).toBe(0);
    expect(JSON.parse(readFileSync(join(feed, 'beta', 'index.json'), 'utf8')).versions.map((v: { version: string }) => v.version)).toEqual(['3']);
  });

  it('refuses a base image whose slots are not named by version, and a key it cannot sign with', async () => {
    const flat = join(dir, 'flat.raw');
    expect((await imgbuild(['build', '--from', usr('1'), '--kernel', kernel, '--initrd', initrd, '--layout', 'mini', '-o', flat], { env })).exitCode).toBe(0);
    const r = await imgbuild(['publish', feed, '--channel', 'x', '--base', flat, '--from', usr('2'), '--gpg-key', KEY, '--gpg-homedir', gnupg]);
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr)).toMatch(/not named by version/);
    const k = await imgbuild(['publish', feed, '--channel', 'y', '--base', img, '--from', usr('2'), '--gpg-key', 'nobody@invalid', '--gpg-homedir', gnupg]);
    expect(k.exitCode).toBe(1);
    expect(String(k.stderr)).toMatch(/no secret key "nobody@invalid"/);
    expect(existsSync(join(feed, 'x')) || existsSync(join(feed, 'y'))).toBe(false);
  });
});

describe('verify --feed-manifest: an image updated as systemd-sysupdate does it', () => {
  it('passes against the feed manifest of the installed version, fails without it', async () => {
    // what sysupdate does on the node, by other tools: the payload into the _empty slot, its label,
    // PARTUUID and flags (PartitionFlags= + ReadOnly=1), the UKI into EFI/Linux
    const node = join(dir, 'node.raw');
    copyFileSync(img, node);
    copyFileSync(`${img}.manifest.json`, `${node}.manifest.json`);
    const ch = join(feed, '.stable.1');
    const index = JSON.parse(readFileSync(join(ch, 'index.json'), 'utf8'));
    const v = index.versions[0];
    const m = JSON.parse(readFileSync(`${node}.manifest.json`, 'utf8'));
    const b = m.partitions.find((p: { label: string }) => p.label === '_empty');
    await execa('sh', ['-c', `gunzip -c "${join(ch, v.payload)}" | dd of="${node}" bs=1M seek=${b.firstLba * 512} oflag=seek_bytes conv=notrunc status=none`]);
    await tool('cgpt', ['add', '-i', String(b.number), '-l', v.label, '-u', v.partuuid, '-P', '3', '-T', '1', '-S', '0', node]);
    const attrs = Number((await tool('cgpt', ['show', '-i', String(b.number), '-A', node])).stdout);
    await tool('cgpt', ['add', '-i', String(b.number), '-A', String(attrs | 0x1000), node]); // bit 60: read-only
    const esp = m.partitions.find((p: { role: string }) => p.role === 'esp');
    await tool('mcopy', ['-i', `${node}@@${esp.firstLba * 512}`, join(ch, v.uki), `::/EFI/Linux/${v.uki}`], { env: { MTOOLS_SKIP_CHECK: '1' } });
    const without = await imgbuild(['verify', node]);
    expect(without.exitCode).toBe(1);
    const r = await imgbuild(['verify', node, '--feed-manifest', join(ch, v.manifest), '--json']);
    const j = JSON.parse(String(r.stdout));
    expect(j.ok, JSON.stringify(j.checks.filter((c: { ok: boolean }) => !c.ok))).toBe(true);
    expect(j.checks.some((c: { region: string; ok: boolean }) => c.region === 'slot B' && c.ok)).toBe(true);
    // one byte of the installed /usr changed: refused
    const fd = openSync(node, 'r+');
    const one = Buffer.alloc(1);
    readSync(fd, one, 0, 1, b.firstLba * 512 + 200);
    one[0] ^= 0xff;
    writeSync(fd, one, 0, 1, b.firstLba * 512 + 200);
    closeSync(fd);
    const bad = await imgbuild(['verify', node, '--feed-manifest', join(ch, v.manifest)]);
    expect(bad.exitCode).toBe(1);
  });
});

describe('the example OS carries the layout\'s sysupdate files', () => {
  it('os/files holds exactly what feed/transfers.ts generates from the sysupdate layout (node hack/os-sysupdate-files.mjs)', async () => {
    for (const f of sysupdateTransfers(await loadLayout('sysupdate'))) {
      expect(readFileSync(join(ROOT, 'os/files/usr', f.path), 'utf8'), `${f.path}: run node hack/os-sysupdate-files.mjs`).toBe(f.text);
    }
  });
});
