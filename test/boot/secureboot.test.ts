/**
 * Secure Boot boot tests: the firmware is the judge. OVMF's Secure Boot build (SMM, secure pflash)
 * with a vars file written by imgbuild that enrolls the test's own certificate (made here by openssl)
 * as PK, KEK and db; Debian's snakeoil vars once, as a cross-check of that file.
 *
 *  1. a signed qemu_uefi --secure-boot bundle boots; the kernel logs "Secure boot enabled";
 *  2. `update` of a signed raw image signs B's UKI; B boots under Secure Boot;
 *  3. B's UKI changed by one byte after signing: the firmware refuses it, the selector says so and
 *     boots A in the same run;
 *  4. an unsigned image: the firmware refuses the selector; the harness stops at once
 *     (`secure-boot-refused`) instead of waiting out the timeout;
 *  5. an image signed with Debian's snakeoil key boots with Debian's vars and with imgbuild's alike;
 *  6. the same signed image without Secure Boot (the timing baseline).
 */
import { execa } from 'execa';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imgbuild, tempDir, tool } from '../helpers.js';
import { BOOT_TIMEOUT_S, bootKit, env, readManifest, usrImage, type BootJson, type Kit } from './boot.js';

const dir = tempDir('imgbuild-secboot-');
const key = join(dir, 'db.key');
const cert = join(dir, 'db.pem');
const pass = join(dir, 'pass.txt');
const SNAKEOIL_KEY = '/usr/share/ovmf/PkKek-1-snakeoil.key';
const SNAKEOIL_CERT = '/usr/share/ovmf/PkKek-1-snakeoil.pem';
const sign = ['--sign-key', key, '--sign-cert', cert, '--sign-pass-file', pass];
const SECURE_BOOT_ON = /secureboot: Secure boot enabled/;
let kit: Kit;
let v1: { path: string };
let v2: { path: string };
const timings: Record<string, number> = {};

/** `imgbuild qemu IMG --json` with extra flags; the console log is kept beside the image. */
async function boot(img: string, name: string, flags: string[], timeoutS = BOOT_TIMEOUT_S): Promise<{ json: BootJson; exitCode: number; log: string }> {
  const logPath = `${img}.${name}.log`;
  const r = await imgbuild(['qemu', img, '--json', '--timeout', String(timeoutS), '--log', logPath, ...flags], { timeout: (timeoutS + 60) * 1000 });
  expect(r.stdout, `imgbuild qemu printed no JSON: ${r.stderr}`).toMatch(/^\{/);
  const json = JSON.parse(String(r.stdout)) as BootJson;
  timings[name] = json.durationMs;
  return { json, exitCode: r.exitCode ?? -1, log: readFileSync(logPath, 'latin1') };
}

const cp = async (from: string, to: string) => {
  await execa('cp', ['--sparse=always', from, to]);
  await execa('cp', [`${from}.manifest.json`, `${to}.manifest.json`]);
};

beforeAll(async () => {
  kit = await bootKit();
  writeFileSync(pass, 'test pass\n');
  await tool('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-keyout', key, '-out', cert, '-days', '3650', '-subj', '/CN=imgbuild Secure Boot test', '-passout', 'pass:test pass']);
  v1 = await usrImage(dir, '1', 0);
  v2 = await usrImage(dir, '2', 0);
}, 900_000);

afterAll(() => {
  console.log(`secure boot durations (s): ${Object.entries(timings).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)}`).join(', ')}`);
});

describe('secure boot', { timeout: 600_000 }, () => {
  const raw = join(dir, 'signed.raw');
  const tampered = join(dir, 'tampered.raw');

  it('1. a signed qemu_uefi --secure-boot bundle boots with Secure Boot on', async () => {
    const bundle = join(dir, 'bundle');
    const r = await imgbuild(['build', '--from', v1.path, '--kernel', kit.kernel, '--initrd', kit.initrd, '--format', 'qemu_uefi', '--secure-boot', ...sign, '-o', bundle, '--seed', 'sb'], { env });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(readFileSync(join(bundle, 'bundle.sh'), 'utf8')).toMatch(/q35,smm=on,accel=\$ACCEL" -global driver=cfi\.pflash01,property=secure,value=on/);
    // the vars are imgbuild's own, not Debian's snakeoil file
    expect(readFileSync(join(bundle, 'bundle_efi_vars.fd')).equals(readFileSync('/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd'))).toBe(false);
    const { json, exitCode, log } = await boot(bundle, 'bundle', []);
    expect(json.failure).toBeNull();
    expect(json).toMatchObject({ slot: 'A', version: '1', health: 'ok' });
    expect(exitCode).toBe(0);
    expect(log).toMatch(SECURE_BOOT_ON);
  });

  it('2. update of a signed image signs the new UKI, and B boots under Secure Boot', async () => {
    expect((await imgbuild(['build', '--from', v1.path, '--kernel', kit.kernel, '--initrd', kit.initrd, ...sign, '-o', raw, '--seed', 'sb-raw'], { env })).exitCode).toBe(0);
    const u = await imgbuild(['update', raw, '--from', v2.path, ...sign], { env });
    expect(u.exitCode, String(u.stderr)).toBe(0);
    await cp(raw, tampered); // B pending, before any boot
    const { json, exitCode, log } = await boot(raw, 'update-b', ['--enroll-cert', cert]);
    expect(json.failure).toBeNull();
    expect(json.selector.choices.map((c) => c.slot)).toEqual(['B']);
    expect(json).toMatchObject({ slot: 'B', version: '2', health: 'ok', usrhash: readManifest(raw).slots.B.rootHash });
    expect(exitCode).toBe(0);
    expect(log).toMatch(SECURE_BOOT_ON);
  });

  it("3. B's UKI changed by one byte after signing: the firmware refuses it and the selector boots A in the same run", async () => {
    const m = readManifest(tampered);
    const esp = `${tampered}@@${m.partitions.find((p) => p.role === 'esp')!.firstLba * 512}`;
    const local = join(dir, 'b.efi');
    await tool('mcopy', ['-n', '-i', esp, '::EFI/Linux/imgbuild-usr-b.efi', local], { env: { MTOOLS_SKIP_CHECK: '1' } });
    const b = readFileSync(local);
    b[b.length >> 1] ^= 0x01; // inside the initrd or kernel section: the PE still parses
    writeFileSync(local, b);
    await tool('mcopy', ['-o', '-i', esp, local, '::EFI/Linux/imgbuild-usr-b.efi'], { env: { MTOOLS_SKIP_CHECK: '1' } });
    const { json, exitCode, log } = await boot(tampered, 'tampered-b', ['--enroll-cert', cert]);
    expect(json.selector.lines).toContain('slot=B cannot boot: \\EFI\\Linux\\imgbuild-usr-b.efi: Access Denied; tries -> 0');
    expect(json.selector.choices.map((c) => c.slot)).toEqual(['B', 'A']);
    expect(json).toMatchObject({ slot: 'A', version: '1', health: 'ok' });
    expect(exitCode).toBe(0);
    expect(log).toMatch(SECURE_BOOT_ON);
  });

  it('4. an unsigned image under Secure Boot: refused by the firmware, reported at once', async () => {
    const plain = join(dir, 'unsigned.raw');
    expect((await imgbuild(['build', '--from', v1.path, '--kernel', kit.kernel, '--initrd', kit.initrd, '-o', plain, '--seed', 'plain'], { env })).exitCode).toBe(0);
    const { json, exitCode } = await boot(plain, 'unsigned', ['--enroll-cert', cert], 240);
    expect(json.failure?.reason).toBe('secure-boot-refused');
    expect(json.failure?.detail).toMatch(/BdsDxe: failed to load .*: Access Denied/);
    expect(json.selector.lines).toEqual([]);
    expect(exitCode).toBe(1);
    expect(json.durationMs).toBeLessThan(60_000); // not the 240 s timeout
  });

  it("5. signed with Debian's snakeoil key: boots with Debian's snakeoil vars and with imgbuild's alike", async () => {
    const snake = join(dir, 'snakeoil.raw');
    const r = await imgbuild(['build', '--from', v1.path, '--kernel', kit.kernel, '--initrd', kit.initrd, '--sign-key', SNAKEOIL_KEY, '--sign-cert', SNAKEOIL_CERT, '-o', snake, '--seed', 'snake'], {
      env: { ...env, IMGBUILD_SIGN_PASS: 'snakeoil' },
    });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const ours = join(dir, 'snakeoil-ours.raw');
    await cp(snake, ours);
    const debian = await boot(snake, 'snakeoil-debian-vars', ['--secure-boot']);
    const mine = await boot(ours, 'snakeoil-imgbuild-vars', ['--enroll-cert', SNAKEOIL_CERT]);
    for (const b of [debian, mine]) {
      expect(b.json.failure).toBeNull();
      expect(b.json).toMatchObject({ slot: 'A', health: 'ok' });
      expect(b.log).toMatch(SECURE_BOOT_ON);
    }
  });

  it('6. the signed image boots without Secure Boot too (timing baseline)', async () => {
    const plainFw = join(dir, 'no-secboot.raw');
    await cp(join(dir, 'snakeoil.raw'), plainFw);
    const { json, log } = await boot(plainFw, 'no-secure-boot', []);
    expect(json.failure).toBeNull();
    expect(json).toMatchObject({ slot: 'A', health: 'ok' });
    expect(log).not.toMatch(SECURE_BOOT_ON);
  });
});
