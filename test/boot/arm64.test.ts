/**
 * arm64 boot tests: images built on this amd64 host with `--arch arm64` and booted under
 * qemu-system-aarch64 -M virt with AAVMF (TCG), the arm64 boot kit's Debian kernel and busybox
 * initramfs. The firmware, the selector cross-built for aarch64 and the arm64 kernel are the judges.
 * The layout is a UAPI one (usr-arm64 slots, a root-arm64 ROOT), so the selector's and the host's
 * slot discovery are exercised with arm64's own types; its 128 MiB ESP holds two UKIs of Debian's
 * uncompressed 33 MB arm64 Image.
 *
 * One image, built once, and copies of it at the right moments: six runs, one of them booting twice.
 *  1. fresh: the selector starts A, the kernel is aarch64 (marker machine=aarch64), A marked good;
 *  2. one flipped byte in a file of USR-A: dm-verity refuses it, no healthy boot;
 *  3. a signed qemu_uefi --secure-boot bundle (AAVMF, vars written by imgbuild enrolling the test's own
 *     certificate): update → B, signed with the same key; B boots v2 under Secure Boot;
 *  4. update with an initrd that panics: the selector starts B, the kernel panics, the machine resets,
 *     the selector gives B up and starts A, in one run;
 *  5. signed with AAVMF's snakeoil key (imgbuild sign): boots under Secure Boot with AAVMF's snakeoil
 *     vars; 6. the unsigned image under the same firmware and vars is refused at once.
 */
import { execa } from 'execa';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imgbuild, ROOT, tempDir, tool } from '../helpers.js';
import { boot, bootKit, durations, env, flipFileByte, panickingInitrd, readManifest, slotStatus, usrImage, type Kit } from './boot.js';

const dir = tempDir('imgbuild-arm64-');
const img = join(dir, 'disk.raw');
const LAYOUT = join(ROOT, 'test/boot/fixtures/arm64/uapi-arm64.json');
const SNAKEOIL_KEY = '/usr/share/qemu-efi-aarch64/PkKek-1-snakeoil.key';
const SNAKEOIL_CERT = '/usr/share/qemu-efi-aarch64/PkKek-1-snakeoil.pem';
const USR_ARM64 = 'b0e01050-ee5f-4390-949a-9101b17104e9';
let kit: Kit;
let v1: { path: string; tag: Buffer };
let v2: { path: string; tag: Buffer };
const key = join(dir, 'db.key');
const cert = join(dir, 'db.pem');
const sign = ['--sign-key', key, '--sign-cert', cert];

const cp = (from: string, to: string) => execa('cp', ['--sparse=always', from, to]).then(() => execa('cp', [`${from}.manifest.json`, `${to}.manifest.json`]));
const build = (out: string, extra: string[] = []) =>
  imgbuild(['build', '--arch', 'arm64', '--layout', LAYOUT, '--from', v1.path, '--kernel', kit.kernel, '--initrd', kit.initrd, '-o', out, '--seed', 'arm64-test', ...extra], { env });

beforeAll(async () => {
  kit = await bootKit('arm64');
  await tool('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '3650', '-subj', '/CN=imgbuild arm64 Secure Boot test']);
  v1 = await usrImage(dir, '1', 0);
  v2 = await usrImage(dir, '2', 0);
  const r = await build(img);
  expect(r.exitCode, String(r.stderr)).toBe(0);
  for (const copy of ['corrupt', 'fallback', 'signed', 'unsigned']) await cp(img, join(dir, `${copy}.raw`));
}, 900_000);

afterAll(() => {
  if (durations.length) console.log(`arm64 boot durations (s): ${durations.map((d) => (d / 1000).toFixed(1)).join(' ')}`);
});

describe('arm64 boot (qemu-system-aarch64 -M virt, AAVMF, TCG)', { timeout: 600_000 }, () => {
  it('1. a fresh arm64 image boots slot A on an aarch64 machine and marks it good', async () => {
    const m = readManifest(img) as ReturnType<typeof readManifest> & { architecture: string };
    expect(m.architecture).toBe('arm64');
    expect(m.boot.selector.path).toBe('EFI/BOOT/BOOTAA64.EFI');
    expect(m.partitions.filter((p) => (p as unknown as { type: string }).type === USR_ARM64).map((p) => p.label)).toEqual(['USR-A', 'USR-B']);
    const { json, exitCode, log } = await boot(img, 'fresh');
    expect(json.failure).toBeNull();
    expect(json.selector.choices).toEqual([{ slot: 'A', partition: 3, priority: 1, triesBefore: 0, triesAfter: 0, successful: true, attemptsBefore: 0, attemptsAfter: 1 }]);
    expect(json).toMatchObject({ slot: 'A', usrhash: m.slots.A.rootHash, version: '1', health: 'ok', details: { machine: 'aarch64' } });
    expect(log).toMatch(/Linux version \S+-arm64 /);
    expect(exitCode).toBe(0);
    expect((await slotStatus(img)).A).toMatchObject({ priority: 1, tries: 0, successful: true });
  });

  it('2. one flipped byte inside a file of USR-A is caught by dm-verity', async () => {
    const bad = join(dir, 'corrupt.raw');
    flipFileByte(bad, readManifest(bad), 'USR-A', v1.tag);
    const { json, exitCode, log } = await boot(bad, 'corrupt');
    expect(json.failure?.reason).toBe('read-error');
    expect(log).toMatch(/verity: .*data block \d+ is corrupted/);
    expect(exitCode).not.toBe(0);
  });

  it('3. a signed --secure-boot qemu_uefi bundle: update → B, and B boots v2 under Secure Boot on the bundle\'s own AAVMF', async () => {
    const bundle = join(dir, 'bundle');
    const r = await imgbuild(['build', '--arch', 'aarch64', '--layout', LAYOUT, '--from', v1.path, '--kernel', kit.kernel, '--initrd', kit.initrd, '--format', 'qemu_uefi', '--secure-boot', ...sign, '-o', bundle, '--seed', 'arm64-bundle'], { env });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const script = readFileSync(join(bundle, 'bundle.sh'), 'utf8');
    expect(script).toMatch(/-machine "virt,accel=\$ACCEL" -cpu cortex-a72 /);
    expect(script).toMatch(/^exec qemu-system-aarch64 "\$@"$/m);
    expect(readFileSync(join(bundle, 'bundle_efi_code.fd')).equals(readFileSync('/usr/share/AAVMF/AAVMF_CODE.fd'))).toBe(true);
    expect(readFileSync(join(bundle, 'bundle_efi_vars.fd')).equals(readFileSync('/usr/share/AAVMF/AAVMF_VARS.snakeoil.fd'))).toBe(false); // imgbuild's own
    const u = await imgbuild(['update', bundle, '--from', v2.path, '--arch', 'arm64', ...sign], { env });
    expect(u.exitCode, String(u.stderr)).toBe(0);
    const { json, exitCode, log } = await boot(bundle, 'bundle-b');
    expect(log).toMatch(/secureboot: Secure boot enabled/);
    const manifest = readdirSync(bundle).find((f) => f.endsWith('.manifest.json'))!;
    const m = JSON.parse(readFileSync(join(bundle, manifest), 'utf8')) as { slots: { B: { rootHash: string } } };
    expect(json.selector.choices).toEqual([{ slot: 'B', partition: 4, priority: 2, triesBefore: 1, triesAfter: 0, successful: false, attemptsBefore: 0, attemptsAfter: 1 }]);
    expect(json).toMatchObject({ slot: 'B', version: '2', health: 'ok', usrhash: m.slots.B.rootHash, details: { machine: 'aarch64' } });
    expect(exitCode).toBe(0);
  });

  it("4. B's initrd panics: in one run the selector starts B, the machine resets, the selector starts A", async () => {
    const f = join(dir, 'fallback.raw');
    const u = await imgbuild(['update', f, '--from', v2.path, '--initrd', await panickingInitrd(dir)], { env });
    expect(u.exitCode, String(u.stderr)).toBe(0);
    const { json, exitCode, log } = await boot(f, 'fallback', { allowReset: true, timeoutS: 240 });
    expect(json.selector.choices.map((c) => `${c.slot}:${c.triesBefore}->${c.triesAfter}`)).toEqual(['B:1->0', 'A:0->0']);
    const at = (re: RegExp) => log.search(re);
    expect(at(/Kernel panic - not syncing/)).toBeGreaterThan(at(/imgbuild-select: slot=B /));
    expect(at(/imgbuild-select: slot=A /)).toBeGreaterThan(at(/Kernel panic - not syncing/));
    expect(json).toMatchObject({ slot: 'A', version: '1', health: 'ok' });
    expect(exitCode).toBe(0);
    expect((await slotStatus(f)).B).toMatchObject({ tries: 0, successful: false, canBoot: false });
  });

  it("5. signed with AAVMF's snakeoil key: boots under Secure Boot with AAVMF's snakeoil vars", async () => {
    const s = join(dir, 'signed.raw');
    const r = await imgbuild(['sign', s, '--sign-key', SNAKEOIL_KEY, '--sign-cert', SNAKEOIL_CERT], { env: { ...env, IMGBUILD_SIGN_PASS: 'snakeoil' } });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const v = await imgbuild(['verify', s, '--json']);
    expect(v.exitCode, String(v.stdout)).toBe(0);
    const { json, exitCode, log } = await boot(s, 'secure-boot', { extraArgs: ['--secure-boot'] });
    expect(json.failure).toBeNull();
    expect(json).toMatchObject({ slot: 'A', health: 'ok', details: { machine: 'aarch64' } });
    expect(log).toMatch(/secureboot: Secure boot enabled/);
    expect(exitCode).toBe(0);
  });

  it('6. the unsigned image under the same firmware and vars: refused by AAVMF, reported at once', async () => {
    const { json, exitCode } = await boot(join(dir, 'unsigned.raw'), 'unsigned', { extraArgs: ['--secure-boot'], timeoutS: 240 });
    expect(json.failure?.reason).toBe('secure-boot-refused');
    expect(json.selector.lines).toEqual([]);
    expect(exitCode).toBe(1);
    expect(json.durationMs).toBeLessThan(60_000);
  });
});
