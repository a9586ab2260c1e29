/**
 * arm64 without booting: the architecture table against systemd's own partition type names, `--arch`
 * on build, update, verify and sysext build judged by sgdisk, sfdisk, mtools, unsquashfs and imgbuild's
 * verify, and the refusals that keep one image on one machine. The boots are test/boot/arm64.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ARCHITECTURES, ARCHITECTURE_TABLE } from '../packages/core/src/arch.js';
import { imageArchitecture } from '../packages/core/src/qemu/machine.js';
import { fakeBzImage, imgbuild, tempDir, tool } from './helpers.js';

const dir = tempDir('imgbuild-arm64-cli-');
const env = { SOURCE_DATE_EPOCH: '1700000000' };
const MT_ENV = { MTOOLS_SKIP_CHECK: '1' };

/** Random bytes behind an arm64 Image header ("ARM\x64" at 0x38): enough for the UKI builder. */
function fakeArm64Image(size = 200_000): Buffer {
  const k = randomBytes(size);
  k.write('MZ', 0, 'latin1');
  k.writeUInt32LE(0x644d5241, 0x38);
  k.writeUInt32LE(0x40, 0x3c);
  return k;
}

const kernel = join(dir, 'Image');
const bzImage = join(dir, 'vmlinuz');
const initrd = join(dir, 'initrd.img');
const usr = join(dir, 'usr.squashfs');
const img = join(dir, 'arm64.raw');
const base = () => ['build', '--arch', 'arm64', '--from', usr, '--kernel', kernel, '--initrd', initrd, '--seed', 'arm64-cli'];

beforeAll(async () => {
  writeFileSync(kernel, fakeArm64Image());
  writeFileSync(bzImage, fakeBzImage());
  writeFileSync(initrd, randomBytes(50_000));
  mkdirSync(join(dir, 'tree/lib'), { recursive: true });
  writeFileSync(join(dir, 'tree/lib/os-release'), 'ID=test\nVERSION_ID=1\n');
  await tool('mksquashfs', [join(dir, 'tree'), usr, '-noappend', '-all-root', '-quiet', '-mkfs-time', '0', '-all-time', '0']);
  const r = await imgbuild([...base(), '-o', img], { env });
  expect(r.exitCode, String(r.stderr)).toBe(0);
});

describe('the architecture table', () => {
  it("names every UAPI partition type as systemd-id128 does", async () => {
    for (const a of ARCHITECTURES) {
      const t = ARCHITECTURE_TABLE[a].partitionTypes;
      const names: Array<[string, string]> = [[`root-${a}`, t.root], [`root-${a}-verity`, t.rootVerity], [`usr-${a}`, t.usr], [`usr-${a}-verity`, t.usrVerity], [`usr-${a}-verity-sig`, t.usrVeritySig]];
      for (const [name, guid] of names) {
        const out = String((await tool('systemd-id128', ['show', name, '-u'])).stdout);
        expect(out, name).toContain(guid);
      }
    }
  });

  it('points at files Debian installs: the stubs, the firmware, the qemu binaries', async () => {
    for (const a of ARCHITECTURES) {
      const f = ARCHITECTURE_TABLE[a];
      for (const p of [f.ukiStub, f.firmware.code, f.firmware.vars, f.firmware.secureBootCode, f.firmware.snakeoilVars, f.firmware.snakeoilCert]) expect(existsSync(p), p).toBe(true);
      expect((await tool(f.qemu.binary, ['--version'])).exitCode).toBe(0);
    }
  });
});

describe('build --arch arm64', () => {
  it('writes BOOTAA64.EFI and arm64 UKIs, records the architecture, and passes sgdisk -v and verify', async () => {
    const m = JSON.parse(readFileSync(`${img}.manifest.json`, 'utf8'));
    expect(m.architecture).toBe('arm64');
    expect(m.boot.selector.path).toBe('EFI/BOOT/BOOTAA64.EFI');
    expect(String((await tool('sgdisk', ['-v', img])).stdout)).toMatch(/No problems found/);
    const esp = m.partitions.find((p: { role: string }) => p.role === 'esp');
    const files = String((await tool('mdir', ['-i', `${img}@@${esp.firstLba * 512}`, '-/', '-b', '::/'], { env: MT_ENV })).stdout);
    expect(files).toMatch(/EFI\/BOOT\/BOOTAA64\.EFI/i);
    expect(files).not.toMatch(/BOOTX64/i);
    const v = await imgbuild(['verify', img, '--json']);
    expect(v.exitCode, String(v.stdout)).toBe(0);
    const arch = JSON.parse(String(v.stdout)).checks.filter((c: { region: string }) => c.region === 'architecture');
    expect(arch.map((c: { name: string }) => c.name)).toEqual(['selector path', 'EFI/BOOT/BOOTAA64.EFI', 'EFI/Linux/imgbuild-usr-a.efi', 'EFI/Linux/imgbuild-usr-a.efi: .linux']);
  });

  it('is reproducible: the same inputs and seed give the same bytes', async () => {
    const again = join(dir, 'again.raw');
    expect((await imgbuild([...base(), '-o', again], { env })).exitCode).toBe(0);
    expect(readFileSync(again).equals(readFileSync(img))).toBe(true);
  });

  it("refuses an x86 kernel, another architecture's UAPI types, and an unknown architecture", async () => {
    const x86 = await imgbuild(['build', '--arch', 'aarch64', '--from', usr, '--kernel', bzImage, '--initrd', initrd, '-o', join(dir, 'x.raw')], { env });
    expect(x86.exitCode).toBe(1);
    expect(String(x86.stderr).trim()).toBe(`imgbuild: ${bzImage}: kernel is an x86 bzImage (x86-64), but the image is arm64: give an arm64 Image`);
    const arm = await imgbuild(['build', '--from', usr, '--kernel', kernel, '--initrd', initrd, '-o', join(dir, 'y.raw')], { env });
    expect(arm.exitCode).toBe(1);
    expect(String(arm.stderr)).toContain('kernel is an arm64 Image (arm64), but the image is x86-64');
    const layout = join(dir, 'x86-uapi.json');
    writeFileSync(layout, JSON.stringify({ name: 'x86-uapi', diskSize: 'auto', partitions: [
      { number: 1, label: 'EFI-SYSTEM', type: 'efi', size: '64MiB', role: 'esp' },
      { number: 3, label: 'USR-A', type: 'usr-x86-64', size: '64MiB', role: 'usr-slot', attributes: { priority: 1, successful: true } },
      { number: 4, label: 'USR-B', type: 'usr-x86-64', size: '64MiB', role: 'usr-slot' },
    ] }));
    const types = await imgbuild([...base(), '--layout', layout, '-o', join(dir, 'z.raw')], { env });
    expect(types.exitCode).toBe(2);
    expect(String(types.stderr).trim()).toBe(`imgbuild: ${layout}: partition 3 (USR-A) has type usr-x86-64, an x86-64 type, but the image is arm64: use usr-arm64`);
    const unknown = await imgbuild([...base(), '--arch', 'riscv64', '-o', join(dir, 'w.raw')], { env });
    expect(unknown.exitCode).toBe(2);
    expect(String(unknown.stderr)).toMatch(/--arch.*riscv64/);
    for (const f of ['x.raw', 'y.raw', 'z.raw', 'w.raw']) expect(existsSync(join(dir, f))).toBe(false);
  });
});

describe('one image, one machine', () => {
  it('update refuses another architecture, by flag or by kernel, and changes nothing', async () => {
    const before = readFileSync(img);
    const flag = await imgbuild(['update', img, '--from', usr, '--arch', 'x86-64'], { env });
    expect(flag.exitCode).toBe(1);
    expect(String(flag.stderr).trim()).toBe(`imgbuild: ${img}: this image is arm64 (its manifest says so), not x86-64: an update cannot change the architecture`);
    const k = await imgbuild(['update', img, '--from', usr, '--kernel', bzImage], { env });
    expect(k.exitCode).toBe(1);
    expect(String(k.stderr).trim()).toBe(`imgbuild: ${bzImage}: kernel is an x86 bzImage (x86-64), but the image is arm64: give an arm64 Image`);
    expect(readFileSync(img).equals(before)).toBe(true);
    const ok = await imgbuild(['update', img, '--from', usr, '--arch', 'arm64', '--dry-run'], { env });
    expect(ok.exitCode, String(ok.stderr)).toBe(0);
  });

  it("verify fails an arm64 image against a manifest that says x86-64, naming every boot file's machine", async () => {
    const other = join(dir, 'claims-x86.manifest.json');
    const m = JSON.parse(readFileSync(`${img}.manifest.json`, 'utf8'));
    writeFileSync(other, JSON.stringify({ ...m, architecture: 'x86-64' }));
    const v = await imgbuild(['verify', img, '--manifest', other, '--json']);
    expect(v.exitCode).toBe(1);
    const fails = JSON.parse(String(v.stdout)).checks.filter((c: { ok: boolean; region: string }) => !c.ok && c.region === 'architecture');
    expect(fails.map((c: { name: string; expected: string; found: string }) => `${c.name}: ${c.expected} -> ${c.found}`)).toEqual([
      'selector path: EFI/BOOT/BOOTX64.EFI -> EFI/BOOT/BOOTAA64.EFI',
      'EFI/BOOT/BOOTAA64.EFI: x86-64 -> arm64',
      'EFI/Linux/imgbuild-usr-a.efi: x86-64 -> arm64',
      'EFI/Linux/imgbuild-usr-a.efi: .linux: x86-64 -> arm64',
    ]);
  });

  it('qemu finds the architecture from the manifest, and without one from the ESP', async () => {
    expect(await imageArchitecture(img)).toEqual({ arch: 'arm64', from: 'manifest' });
    const bare = join(dir, 'bare.raw');
    copyFileSync(img, bare);
    expect(await imageArchitecture(bare)).toEqual({ arch: 'arm64', from: 'esp' });
  });
});

describe('sysext build --arch arm64', () => {
  it('names the file for arm64, uses the root-arm64 types and writes ARCHITECTURE=arm64', async () => {
    const tree = join(dir, 'ext');
    mkdirSync(join(tree, 'usr/bin'), { recursive: true });
    writeFileSync(join(tree, 'usr/bin/hello'), '#!/bin/sh\necho hello\n', { mode: 0o755 });
    const r = await imgbuild(['sysext', 'build', '--from-dir', tree, '--name', 'hello', '--version', '1.0', '--arch', 'aarch64', '-o', join(dir, 'hello-1.0-arm64.raw'), '--json']);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const out = join(dir, 'hello-1.0-arm64.raw');
    const parts = JSON.parse(String((await tool('sfdisk', ['--json', out])).stdout)).partitiontable.partitions as Array<{ type: string; start: number; size: number }>;
    const t = ARCHITECTURE_TABLE.arm64.partitionTypes;
    expect(parts.map((p) => p.type.toLowerCase())).toEqual([t.root, t.rootVerity]);
    const data = join(dir, 'hello-root.img');
    await tool('dd', [`if=${out}`, `of=${data}`, 'bs=512', `skip=${parts[0].start}`, `count=${parts[0].size}`, 'status=none']);
    const rel = String((await tool('unsquashfs', ['-cat', data, 'usr/lib/extension-release.d/extension-release.hello'])).stdout);
    expect(rel).toMatch(/^ARCHITECTURE=arm64$/m);
  });
});
