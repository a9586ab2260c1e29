/**
 * Secure Boot signing without booting: `build`/`update`/`sign` with a key pair made here by openssl,
 * judged by the signing tools' own verifiers (osslsigncode verify -CAfile, sbverify --cert) on the
 * files taken off the ESP with mtools, next to `imgbuild verify`. Also: signatures are reproducible
 * (two builds, byte-identical images), the manifest's fingerprint is openssl's, tampering and a
 * foreign certificate are caught, an unsigned image says so, and the flags fail early and plainly.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { fakeBzImage, imgbuild, tempDir, tool } from './helpers.js';

const dir = tempDir('imgbuild-sign-');
const env = { SOURCE_DATE_EPOCH: '1700000000' };
const kernel = join(dir, 'vmlinuz');
const initrd = join(dir, 'initrd.img');
const key = join(dir, 'db.key');
const cert = join(dir, 'db.pem');
const pass = join(dir, 'pass.txt');
const otherKey = join(dir, 'other.key');
const otherCert = join(dir, 'other.pem');
const usr = (v: string) => join(dir, `usr-${v}.squashfs`);
const signFlags = ['--sign-key', key, '--sign-cert', cert, '--sign-pass-file', pass];

interface Manifest {
  partitions: Array<{ role: string; firstLba: number }>;
  boot: { selector: { path: string; sha256: string }; slots: Record<string, { uki: string; sha256: string }>; signing: { certSha256: string; files: Array<{ path: string; sha256: string }> } | null };
}
const manifest = (img: string) => JSON.parse(readFileSync(`${img}.manifest.json`, 'utf8')) as Manifest;

/** Copies a file off the image's ESP. */
async function espFile(img: string, path: string, out: string): Promise<string> {
  const esp = manifest(img).partitions.find((p) => p.role === 'esp')!;
  await tool('mcopy', ['-n', '-i', `${img}@@${esp.firstLba * 512}`, `::${path}`, out], { env: { MTOOLS_SKIP_CHECK: '1' } });
  return out;
}

/** The two judges on one file: [osslsigncode verify ok, sbverify ok]. */
async function judges(file: string, certPath = cert): Promise<[boolean, boolean]> {
  const o = await execa('osslsigncode', ['verify', '-CAfile', certPath, '-in', file], { reject: false });
  const s = await execa('sbverify', ['--cert', certPath, file], { reject: false });
  return [o.exitCode === 0, s.exitCode === 0];
}

async function verifyJson(img: string, extra: string[] = []) {
  const r = await imgbuild(['verify', img, '--json', ...extra]);
  const j = JSON.parse(String(r.stdout)) as { ok: boolean; checks: Array<{ region: string; name: string; status: string; found: unknown; detail: string }> };
  return { exitCode: r.exitCode, ok: j.ok, signing: j.checks.filter((c) => c.region === 'signing') };
}

beforeAll(async () => {
  writeFileSync(kernel, fakeBzImage());
  writeFileSync(initrd, randomBytes(50_000));
  writeFileSync(pass, 'correct horse\n');
  // The user's own keys: an encrypted RSA key and its self-signed certificate (as for PK/KEK/db).
  await tool('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-keyout', key, '-out', cert, '-days', '3650', '-subj', '/CN=imgbuild signing test', '-passout', 'pass:correct horse']);
  await tool('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', otherKey, '-out', otherCert, '-days', '3650', '-subj', '/CN=someone else']);
  for (const v of ['1', '2']) {
    const tree = join(dir, `tree-${v}`);
    mkdirSync(join(tree, 'lib'), { recursive: true });
    writeFileSync(join(tree, 'lib/os-release'), `VERSION_ID=${v}\n`);
    await tool('mksquashfs', [tree, usr(v), '-noappend', '-all-root', '-quiet', '-mkfs-time', '1700000000', '-all-time', '1700000000']);
  }
}, 120_000);

describe('signing', { timeout: 300_000 }, () => {
  const img = join(dir, 'signed.raw');

  it('build signs the selector and the UKI; both judges accept them; the manifest records the certificate and digests', async () => {
    const r = await imgbuild(['build', '--from', usr('1'), '--kernel', kernel, '--initrd', initrd, '--seed', 's', '-o', img, ...signFlags], { env });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(String(r.stdout)).toMatch(/signed: certificate sha256 [0-9a-f]{64}/);
    const m = manifest(img);
    const der = (await execa('openssl', ['x509', '-in', cert, '-outform', 'der'], { encoding: 'buffer', stripFinalNewline: false })).stdout as Uint8Array;
    expect(m.boot.signing?.certSha256).toBe(createHash('sha256').update(der).digest('hex'));
    expect(m.boot.signing?.files.map((f) => f.path)).toEqual(['EFI/BOOT/BOOTX64.EFI', 'EFI/Linux/imgbuild-usr-a.efi']);
    for (const f of m.boot.signing!.files) {
      const local = await espFile(img, f.path, join(dir, `signed-${f.path.replace(/\//g, '_')}`));
      expect(createHash('sha256').update(readFileSync(local)).digest('hex')).toBe(f.sha256);
      expect(await judges(local), f.path).toEqual([true, true]);
      expect(await judges(local, otherCert), `${f.path} against another certificate`).toEqual([false, false]);
    }
    const v = await verifyJson(img);
    expect(v.ok).toBe(true);
    expect(v.signing.map((c) => c.status)).toEqual(['ok', 'ok']);
    expect((await verifyJson(img, ['--cert', cert])).ok).toBe(true);
  });

  it('signatures are reproducible: a second build (password from the environment this time) is byte-identical', async () => {
    const again = join(dir, 'again.raw');
    const flags = ['--sign-key', key, '--sign-cert', cert];
    const r = await imgbuild(['build', '--from', usr('1'), '--kernel', kernel, '--initrd', initrd, '--seed', 's', '-o', again, ...flags], { env: { ...env, IMGBUILD_SIGN_PASS: 'correct horse' } });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
    expect(sha(again)).toBe(sha(img));
    expect(readFileSync(`${again}.manifest.json`, 'utf8').replace(/again\.raw/g, 'signed.raw')).toBe(readFileSync(`${img}.manifest.json`, 'utf8'));
  });

  it('a UKI changed by one byte after signing: verify and both judges refuse it', async () => {
    const bad = join(dir, 'tampered.raw');
    await execa('cp', ['--sparse=always', img, bad]);
    await execa('cp', [`${img}.manifest.json`, `${bad}.manifest.json`]);
    const uki = await espFile(bad, 'EFI/Linux/imgbuild-usr-a.efi', join(dir, 'tampered.efi'));
    const b = readFileSync(uki);
    b[b.length >> 1] ^= 0x01;
    writeFileSync(uki, b);
    const esp = manifest(bad).partitions.find((p) => p.role === 'esp')!;
    await tool('mcopy', ['-o', '-i', `${bad}@@${esp.firstLba * 512}`, uki, '::EFI/Linux/imgbuild-usr-a.efi'], { env: { MTOOLS_SKIP_CHECK: '1' } });
    expect(await judges(uki)).toEqual([false, false]);
    const v = await verifyJson(bad);
    expect(v.exitCode).toBe(1);
    const sig = v.signing.find((c) => c.name === 'EFI/Linux/imgbuild-usr-a.efi: signature')!;
    expect(sig).toMatchObject({ status: 'fail' });
    expect(sig.detail).toMatch(/changed after signing/);
  });

  it('verify --cert with another certificate fails, naming both fingerprints', async () => {
    const v = await verifyJson(img, ['--cert', otherCert]);
    expect(v.ok).toBe(false);
    expect(v.signing.find((c) => c.name === 'certificate')?.detail).toMatch(/the manifest records certificate [0-9a-f]{64}, --cert is [0-9a-f]{64}/);
    expect(v.signing.filter((c) => c.status === 'fail').length).toBe(3);
  });

  it('update of a signed image needs its key and signs the new UKI with it', async () => {
    const noKey = await imgbuild(['update', img, '--from', usr('2')], { env });
    expect(noKey.exitCode).toBe(1);
    expect(String(noKey.stderr)).toMatch(/this image is signed .*give --sign-key and --sign-cert/);
    const wrong = await imgbuild(['update', img, '--from', usr('2'), '--sign-key', otherKey, '--sign-cert', otherCert], { env });
    expect(wrong.exitCode).toBe(1);
    expect(String(wrong.stderr)).toMatch(/is not the certificate this image was signed with/);
    const r = await imgbuild(['update', img, '--from', usr('2'), ...signFlags], { env });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const m = manifest(img);
    expect(m.boot.signing?.files.map((f) => f.path)).toEqual(['EFI/BOOT/BOOTX64.EFI', 'EFI/Linux/imgbuild-usr-a.efi', 'EFI/Linux/imgbuild-usr-b.efi']);
    expect(await judges(await espFile(img, 'EFI/Linux/imgbuild-usr-b.efi', join(dir, 'b.efi')))).toEqual([true, true]);
    const v = await verifyJson(img);
    expect(v.ok).toBe(true);
    expect(v.signing.filter((c) => c.status === 'ok').length).toBe(3);
  });

  it('an unsigned image says so in the manifest and in verify; imgbuild sign signs it in place', async () => {
    const plain = join(dir, 'plain.raw');
    expect((await imgbuild(['build', '--from', usr('1'), '--kernel', kernel, '--initrd', initrd, '--seed', 'p', '-o', plain], { env })).exitCode).toBe(0);
    expect(manifest(plain).boot.signing).toBeNull();
    const v = await verifyJson(plain);
    expect(v.ok).toBe(true);
    expect(v.signing).toEqual([expect.objectContaining({ status: 'info', found: 'unsigned' })]);
    const text = await imgbuild(['verify', plain]);
    expect(String(text.stdout)).toMatch(/signing: Secure Boot: unsigned/);
    expect((await verifyJson(plain, ['--cert', cert])).ok).toBe(false);

    const s = await imgbuild(['sign', plain, ...signFlags], { env });
    expect(s.exitCode, String(s.stderr)).toBe(0);
    const m = manifest(plain);
    expect(m.boot.signing?.files.length).toBe(2);
    for (const f of m.boot.signing!.files) expect(await judges(await espFile(plain, f.path, join(dir, 'plain-signed.efi')))).toEqual([true, true]);
    expect(m.boot.selector.sha256).toBe(m.boot.signing!.files[0].sha256);
    expect((await verifyJson(plain)).ok).toBe(true);

    // Issue 25 #12: another certificate is refused without --force (as update refuses it), nothing changed.
    const before = readFileSync(plain);
    const other = await imgbuild(['sign', plain, '--sign-key', otherKey, '--sign-cert', otherCert], { env });
    expect(other.exitCode).toBe(1);
    expect(String(other.stderr).trim()).toMatch(/is signed with another certificate \(sha256 [0-9a-f]{16}…; this one is [0-9a-f]{16}…\): re-signing changes which machines boot it .*give --force to re-sign$/);
    expect(readFileSync(plain).equals(before)).toBe(true);
    // the same certificate again is a refresh; --force takes the other one
    expect((await imgbuild(['sign', plain, ...signFlags], { env })).exitCode).toBe(0);
    const forced = await imgbuild(['sign', plain, '--sign-key', otherKey, '--sign-cert', otherCert, '--force'], { env });
    expect(forced.exitCode, String(forced.stderr)).toBe(0);
    expect((await verifyJson(plain, ['--cert', otherCert])).ok).toBe(true);
  });

  it('bad flags fail early and plainly', async () => {
    const out = join(dir, 'never.raw');
    const base = ['build', '--from', usr('1'), '--kernel', kernel, '--initrd', initrd, '-o', out];
    const half = await imgbuild([...base, '--sign-key', key], { env });
    expect([half.exitCode, String(half.stderr)]).toEqual([2, expect.stringMatching(/give both --sign-key and --sign-cert/)]);
    const noPass = await imgbuild([...base, '--sign-key', key, '--sign-cert', cert], { env });
    expect([noPass.exitCode, String(noPass.stderr)]).toEqual([1, expect.stringMatching(/the key is encrypted: give its password with --sign-pass-file FILE or \$IMGBUILD_SIGN_PASS/)]);
    const wrongPass = await imgbuild([...base, '--sign-key', key, '--sign-cert', cert], { env: { ...env, IMGBUILD_SIGN_PASS: 'nope' } });
    expect([wrongPass.exitCode, String(wrongPass.stderr)]).toEqual([1, expect.stringMatching(/the password does not open this key/)]);
    const mismatch = await imgbuild([...base, '--sign-key', otherKey, '--sign-cert', cert], { env });
    expect([mismatch.exitCode, String(mismatch.stderr)]).toEqual([1, expect.stringMatching(/does not belong to the certificate/)]);
    const sbRaw = await imgbuild([...base, '--secure-boot', ...signFlags], { env });
    expect([sbRaw.exitCode, String(sbRaw.stderr)]).toEqual([2, expect.stringMatching(/--secure-boot needs --format qemu_uefi/)]);
    const sbNoKey = await imgbuild([...base, '--format', 'qemu_uefi', '--secure-boot'], { env });
    expect([sbNoKey.exitCode, String(sbNoKey.stderr)]).toEqual([2, expect.stringMatching(/--secure-boot needs --sign-key and --sign-cert/)]);
  });
});
