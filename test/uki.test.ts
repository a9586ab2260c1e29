/**
 * The UKI judged by binutils (objdump -h, objcopy --only-section) and, the real proof, booted: OVMF →
 * EFI/BOOT/BOOTX64.EFI on an ESP we wrote → systemd-stub 252 → kernel → a busybox /init that prints
 * the command line we embedded.
 *
 * Kernel: $UKI_TEST_KERNEL, else /boot/vmlinuz-*, else the boot kit's (.cache/bootkit/kernel/*), else
 * Debian's linux-image-*-amd64 fetched once with `apt-get download` + `dpkg -x` into .cache/uki-test/.
 * The boot test skips only when qemu or OVMF is missing.
 */
import { describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { buildUki, decodePe, DEFAULT_UKI_STUB, ESP_BOOT_PATH, makeEsp, readEspFile, readUki, replaceEspFiles } from '../packages/core/src/boot/index.js';
import { ROOT, tempDir, tool } from './helpers.js';

const dir = tempDir('imgbuild-uki-');
const haveStub = existsSync(DEFAULT_UKI_STUB);
const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
const haveQemu = existsSync(OVMF_CODE) && existsSync(OVMF_VARS) && (await execa('qemu-system-x86_64', ['--version'], { reject: false })).exitCode === 0;
const BUSYBOX = '/usr/bin/busybox';

/** A kernel to boot (see the file comment). */
async function findKernel(): Promise<string> {
  if (process.env.UKI_TEST_KERNEL) return process.env.UKI_TEST_KERNEL;
  const boot = existsSync('/boot') ? readdirSync('/boot').filter((f) => /^vmlinuz-.*amd64$/.test(f)).sort() : [];
  if (boot.length > 0) return join('/boot', boot[boot.length - 1]);
  const kit = join(ROOT, '.cache/bootkit/kernel');
  const kits = existsSync(kit) ? readdirSync(kit).filter((d) => /-amd64_/.test(d) && existsSync(join(kit, d, '.complete')) && existsSync(join(kit, d, 'vmlinuz'))).sort() : [];
  if (kits.length > 0) return join(kit, kits[kits.length - 1], 'vmlinuz');
  const cache = join(ROOT, '.cache/uki-test');
  const cached = join(cache, 'vmlinuz');
  if (existsSync(cached)) return cached;
  const dep = String((await tool('apt-cache', ['depends', 'linux-image-amd64'])).stdout).match(/Depends: (linux-image-[0-9]\S*-amd64)/);
  if (!dep) throw new Error('no kernel found and apt-cache does not know linux-image-amd64 (run apt-get update)');
  const work = join(cache, 'work');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  await tool('apt-get', ['download', dep[1]], { cwd: work });
  const deb = readdirSync(work).find((f) => f.endsWith('.deb'))!;
  await tool('dpkg', ['-x', join(work, deb), join(work, 'x')]);
  const vmlinuz = readdirSync(join(work, 'x/boot')).find((f) => f.startsWith('vmlinuz-'))!;
  copyFileSync(join(work, 'x/boot', vmlinuz), cached);
  rmSync(work, { recursive: true, force: true });
  return cached;
}

/** A newc cpio archive (what the kernel unpacks as initramfs), built in memory. */
function cpio(entries: Array<{ name: string; mode: number; data?: Buffer; rdev?: [number, number] }>): Buffer {
  const parts: Buffer[] = [];
  const pad4 = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  const hex = (n: number) => n.toString(16).padStart(8, '0');
  const add = (name: string, mode: number, data: Buffer, ino: number, rdev: [number, number] = [0, 0]) => {
    const nameBuf = Buffer.from(name + '\0');
    const fields = [ino, mode, 0, 0, 1, 1700000000, data.length, 0, 0, rdev[0], rdev[1], nameBuf.length, 0];
    const head = Buffer.from('070701' + fields.map(hex).join(''), 'latin1');
    parts.push(head, nameBuf, pad4(head.length + nameBuf.length), data, pad4(data.length));
  };
  entries.forEach((e, i) => add(e.name, e.mode, e.data ?? Buffer.alloc(0), i + 1, e.rdev));
  add('TRAILER!!!', 0, Buffer.alloc(0), 0);
  return Buffer.concat(parts);
}

function busyboxInitramfs(): Buffer {
  const init = [
    '#!/bin/busybox sh',
    '/bin/busybox mount -t proc proc /proc',
    'echo "UKI-OK $(/bin/busybox cat /proc/cmdline)"',
    '/bin/busybox poweroff -f',
    '',
  ].join('\n');
  return cpio([
    { name: 'bin', mode: 0o40755 },
    { name: 'bin/busybox', mode: 0o100755, data: readFileSync(BUSYBOX) },
    { name: 'dev', mode: 0o40755 },
    { name: 'dev/console', mode: 0o20600, rdev: [5, 1] },
    { name: 'init', mode: 0o100755, data: Buffer.from(init) },
    { name: 'proc', mode: 0o40755 },
  ]);
}

interface ObjdumpSection {
  name: string;
  size: number;
  vma: number;
  fileOff: number;
}

async function objdumpSections(file: string): Promise<ObjdumpSection[]> {
  const out = String((await tool('objdump', ['-h', file])).stdout);
  const rows: ObjdumpSection[] = [];
  for (const m of out.matchAll(/^\s*\d+\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+2\*\*\d+/gm)) {
    rows.push({ name: m[1], size: parseInt(m[2], 16), vma: parseInt(m[3], 16), fileOff: parseInt(m[4], 16) });
  }
  return rows;
}

describe.skipIf(!haveStub)('UKI judged by binutils', () => {
  const kernel = Buffer.alloc(0x5000, 0x90);
  kernel.writeUInt16LE(0xaa55, 0x1fe);
  kernel.write('HdrS', 0x202, 'latin1');
  const initrd = Buffer.alloc(0x2345, 0x11);
  const cmdline = 'console=ttyS0,115200 panic=-1 root=PARTUUID=0000 quiet';
  const uki = buildUki({ stub: readFileSync(DEFAULT_UKI_STUB), kernel, initrd, cmdline, osRelease: 'ID=judge\n', uname: '6.1.0-judge' });
  const file = join(dir, 'judge.efi');
  writeFileSync(file, uki);

  it('objdump -h sees our sections with our names, VMAs, sizes and file offsets', async () => {
    const ours = decodePe(uki);
    const theirs = await objdumpSections(file);
    expect(theirs.map((s) => s.name)).toEqual(ours.sections.map((s) => s.name));
    expect(theirs.slice(-5).map((s) => s.name)).toEqual(['.osrel', '.cmdline', '.uname', '.linux', '.initrd']);
    for (const [i, s] of ours.sections.entries()) {
      expect(theirs[i].vma, s.name).toBe(s.virtualAddress);
      expect(theirs[i].fileOff, s.name).toBe(s.pointerToRawData);
    }
    // For the sections we add, objdump's size is the exact payload size (VirtualSize).
    const added = Object.fromEntries(theirs.slice(-5).map((s) => [s.name, s]));
    expect(added['.cmdline'].size).toBe(cmdline.length);
    expect(added['.linux'].size).toBe(kernel.length);
    expect(added['.initrd'].size).toBe(initrd.length);
    for (const s of theirs.slice(-5)) expect(s.vma % 4096).toBe(0);
  });

  it('objcopy --only-section extracts the same .cmdline, .linux and .initrd as readUki', async () => {
    const r = readUki(uki);
    for (const [name, expected] of [['.cmdline', Buffer.from(cmdline)], ['.linux', kernel], ['.initrd', initrd], ['.osrel', Buffer.from('ID=judge\n')]] as const) {
      const out = join(dir, `section${name}`);
      await tool('objcopy', ['-O', 'binary', `--only-section=${name}`, file, out]);
      const got = readFileSync(out);
      expect(got.equals(expected), name).toBe(true);
      expect(got.equals(r.sections[name]), name).toBe(true);
    }
    expect(r.cmdline).toBe(cmdline);
  });

  it('objdump -p agrees on the image size, section count and checksum; the symbol table still reads', async () => {
    const ours = decodePe(uki);
    const p = String((await tool('objdump', ['-p', file])).stdout);
    expect(parseInt(p.match(/SizeOfImage\s+([0-9a-f]+)/)![1], 16)).toBe(ours.sizeOfImage);
    expect(parseInt(p.match(/CheckSum\s+([0-9a-f]+)/)![1], 16)).toBe(ours.checksum);
    const t = String((await tool('objdump', ['-t', file])).stdout);
    const s = String((await tool('objdump', ['-t', DEFAULT_UKI_STUB])).stdout);
    expect(t.split('\n').slice(2)).toEqual(s.split('\n').slice(2));
  });

  it('readUki reads a UKI made the classic way, by objcopy --add-section (what the updater may find on old images)', async () => {
    const put = (name: string, data: Buffer) => {
      const f = join(dir, `in${name}`);
      writeFileSync(f, data);
      return f;
    };
    const osrel = put('.osrel', Buffer.from('ID=objcopy\n'));
    const cmd = put('.cmdline', Buffer.from(cmdline + '\0'));
    const lin = put('.linux', kernel);
    const ird = put('.initrd', initrd);
    const out = join(dir, 'objcopy.efi');
    await tool('objcopy', [
      '--add-section', `.osrel=${osrel}`, '--change-section-vma', '.osrel=0x20000',
      '--add-section', `.cmdline=${cmd}`, '--change-section-vma', '.cmdline=0x30000',
      '--add-section', `.linux=${lin}`, '--change-section-vma', '.linux=0x2000000',
      '--add-section', `.initrd=${ird}`, '--change-section-vma', '.initrd=0x3000000',
      DEFAULT_UKI_STUB, out,
    ]);
    const r = readUki(readFileSync(out));
    expect(r.cmdline).toBe(cmdline); // the trailing NUL objcopy users often add is dropped
    expect(r.osRelease).toBe('ID=objcopy\n');
    expect(r.kernel.subarray(0, kernel.length).equals(kernel)).toBe(true);
    expect(r.initrd.subarray(0, initrd.length).equals(initrd)).toBe(true);
    // objcopy records the exact sizes too.
    expect(r.kernel.length).toBe(kernel.length);
    expect(r.initrd.length).toBe(initrd.length);
  });

  it('objcopy can itself read and rewrite the UKI (it is a well-formed PE)', async () => {
    const out = join(dir, 'rewritten.efi');
    await tool('objcopy', [file, out]);
    expect((await objdumpSections(out)).map((s) => s.name)).toEqual(decodePe(uki).sections.map((s) => s.name));
  });
});

/** Boots the disk under OVMF (fresh variables) and returns the /init line and the time to qemu's exit. */
async function boot(disk: string): Promise<{ line: string | undefined; seconds: number; log: string; timedOut: boolean }> {
  const vars = join(dir, 'vars.fd');
  copyFileSync(OVMF_VARS, vars);
  const t0 = Date.now();
  const r = await execa(
    'qemu-system-x86_64',
    ['-machine', 'q35,accel=tcg', '-m', '512', '-nic', 'none', '-display', 'none', '-serial', 'stdio', '-monitor', 'none', '-no-reboot',
      '-drive', `if=pflash,format=raw,readonly=on,file=${OVMF_CODE}`, '-drive', `if=pflash,format=raw,file=${vars}`,
      '-drive', `file=${disk},format=raw,if=virtio`],
    { reject: false, timeout: 300_000, stdin: 'ignore', all: true },
  );
  const seconds = (Date.now() - t0) / 1000;
  const log = String(r.all);
  const line = log.split(/\r?\n/).find((l) => l.startsWith('UKI-OK '))?.trim();
  console.log(`UKI boot under TCG: ${seconds.toFixed(1)} s to qemu exit (exit code ${r.exitCode})`);
  return { line, seconds, log, timedOut: Boolean(r.timedOut) };
}

describe.skipIf(!haveStub || !haveQemu)('UKI boots under OVMF as EFI/BOOT/BOOTX64.EFI', () => {
  const ESP_OFF = 2048 * 512;
  const disk = join(dir, 'boot.img');

  const first: { cmdline: string; uki: Buffer } = { cmdline: '', uki: Buffer.alloc(0) };
  let prepared: Promise<void> | undefined;
  /** The disk of the first boot: GPT, ESP with the UKI as BOOTX64.EFI. Shared, so either test can run alone. */
  const prepare = () =>
    (prepared ??= (async () => {
      const kernel = readFileSync(await findKernel());
      // quiet: the kernel's own console lines (KERN_INFO) could otherwise land inside /init's line.
      first.cmdline = `console=ttyS0,115200 panic=-1 quiet imgbuild.uki=first-${Date.now().toString(36)}`;
      first.uki = buildUki({ stub: readFileSync(DEFAULT_UKI_STUB), kernel, initrd: busyboxInitramfs(), cmdline: first.cmdline });
      writeFileSync(disk, Buffer.alloc(0));
      await tool('truncate', ['-s', '80M', disk]);
      await tool('sgdisk', ['-n', '1:2048:+64M', '-t', '1:ef00', '-c', '1:EFI-SYSTEM', disk]);
      await makeEsp({ image: disk, offsetBytes: ESP_OFF, sizeBytes: 64 * 1024 * 1024, volumeId: 0x1b00c0de, files: [{ path: ESP_BOOT_PATH, data: first.uki }], sourceDateEpoch: 1700000000 });
    })());

  it('reaches the busybox /init, which prints the embedded command line', { timeout: 900_000 }, async () => {
    await prepare();
    expect((await readEspFile(disk, ESP_OFF, ESP_BOOT_PATH)).equals(first.uki)).toBe(true);
    const r = await boot(disk);
    expect(r.line, r.log.slice(-3000)).toBe(`UKI-OK ${first.cmdline}`);
    expect(r.timedOut).toBe(false);
  });

  it('the updater\'s round trip boots: readUki from the ESP, new command line, buildUki, replaceEspFiles', { timeout: 900_000 }, async () => {
    await prepare();
    const old = readUki(await readEspFile(disk, ESP_OFF, ESP_BOOT_PATH));
    const cmdline = `${old.cmdline.replace(/imgbuild\.uki=\S+/, '')}imgbuild.uki=second-${Date.now().toString(36)}`;
    const uki = buildUki({ stub: readFileSync(DEFAULT_UKI_STUB), kernel: old.kernel, initrd: old.initrd, cmdline, osRelease: old.osRelease });
    await replaceEspFiles(disk, ESP_OFF, [{ path: ESP_BOOT_PATH, data: uki }], 1700000000);
    const r = await boot(disk);
    expect(r.line, r.log.slice(-3000)).toBe(`UKI-OK ${cmdline}`);
    expect((await tool('sgdisk', ['-v', disk])).stdout).toMatch(/No problems found/);
  });
});
