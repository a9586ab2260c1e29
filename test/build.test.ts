/**
 * `imgbuild build` judged by the reference tools: sgdisk, cgpt, veritysetup, fsck.vfat, qemu-img and
 * objcopy must all accept what it writes. Boot tests (test/boot) prove the image really boots.
 */
import { describe, expect, it, beforeAll } from 'vitest';
import { execa } from 'execa';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fakeBzImage, imgbuild, ROOT, tempDir, tool } from './helpers.js';

const dir = tempDir('imgbuild-build-');
const kernel = join(dir, 'vmlinuz');
const initrd = join(dir, 'initrd.img');
const usr = join(dir, 'usr.squashfs');
const SDE = '1700000000';
const env = { SOURCE_DATE_EPOCH: SDE };

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Copies a byte range of a file out, as a judge that needs the partition alone would see it. */
async function extract(image: string, offset: number, size: number, out: string): Promise<void> {
  await tool('dd', [`if=${image}`, `of=${out}`, 'bs=1M', `skip=${offset}`, `count=${size}`, 'iflag=skip_bytes,count_bytes', 'status=none']);
}

interface Manifest {
  seed: string;
  disk: { guid: string };
  partitions: Array<{ number: number; label: string; firstLba: number; lastLba: number; role: string }>;
  slots: Record<string, { rootHash: string; hashOffset: number; partition: number; partuuid: string; dataBlocks: number; salt: string | null; superblockUuid: string; source: { name: string; bytes: number; sha256?: string }; version?: string }>;
  boot: { selector: { path: string; sha256: string }; slots: Record<string, { uki: string; sha256: string; cmdline: string; kernelSha256: string; initrdSha256: string }> };
  image: { sha256: string | null; digest?: { algorithm: string; rootHash: string; dataBlocks: number; recompute: string }; qcow2?: { name: string; sha256: string } };
}

const readManifest = (p: string) => JSON.parse(readFileSync(p, 'utf8')) as Manifest;
const part = (m: Manifest, label: string) => m.partitions.find((p) => p.label === label)!;

beforeAll(async () => {
  // Fake kernel and initrd: the build only packs them into the UKI; booting is test/boot's job.
  writeFileSync(kernel, fakeBzImage());
  writeFileSync(initrd, randomBytes(100_000));
  const tree = join(dir, 'usrtree');
  cpSync(join(ROOT, 'examples/usr'), tree, { recursive: true });
  await tool('mksquashfs', [tree, usr, '-noappend', '-all-root', '-quiet', '-mkfs-time', SDE, '-all-time', SDE]);
});

async function build(out: string, extra: string[] = []) {
  return imgbuild(['build', '--from', usr, '--kernel', kernel, '--initrd', initrd, '--layout', 'mini', '--seed', 'test', '-o', out, ...extra], { env });
}

describe('raw image', () => {
  const img = join(dir, 'a', 'disk.raw');
  let m: Manifest;

  beforeAll(async () => {
    mkdirSync(join(dir, 'a'));
    const r = await build(img);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    m = readManifest(`${img}.manifest.json`);
  });

  it('has a GPT that sgdisk -v finds clean, and is sparse', async () => {
    expect(String((await tool('sgdisk', ['-v', img])).stdout)).toMatch(/No problems found/);
    const { blocks } = statSync(img);
    expect(blocks * 512).toBeLessThan(40 * 1024 * 1024); // 382 MiB disk, a few MiB written
  });

  it('sets USR-A priority 1, tries 0, successful 1 and leaves USR-B zero (cgpt)', async () => {
    const show = async (n: number, f: string) => String((await tool('cgpt', ['show', '-i', String(n), f, img])).stdout).trim();
    const a = part(m, 'USR-A').number;
    const b = part(m, 'USR-B').number;
    expect([await show(a, '-P'), await show(a, '-T'), await show(a, '-S')]).toEqual(['1', '0', '1']);
    expect([await show(b, '-P'), await show(b, '-T'), await show(b, '-S')]).toEqual(['0', '0', '0']);
  });

  it("USR-A verifies with veritysetup against the manifest's root hash", async () => {
    const p = part(m, 'USR-A');
    const slot = join(dir, 'usr-a.part');
    await extract(img, p.firstLba * 512, (p.lastLba - p.firstLba + 1) * 512, slot);
    const a = m.slots.A;
    const v = await tool('veritysetup', ['verify', slot, slot, a.rootHash, `--hash-offset=${a.hashOffset}`], { reject: false });
    expect(v.exitCode, String(v.stderr)).toBe(0);
    const wrong = await tool('veritysetup', ['verify', slot, slot, 'f'.repeat(64), `--hash-offset=${a.hashOffset}`], { reject: false });
    expect(wrong.exitCode).not.toBe(0);
    // The data at the slot's start is the input squashfs, byte for byte, zero padded to a whole block.
    const size = statSync(usr).size;
    const data = readFileSync(slot).subarray(0, Math.ceil(size / 4096) * 4096);
    expect(createHash('sha256').update(data.subarray(0, size)).digest('hex')).toBe(sha256(usr));
    expect(data.subarray(size).every((b) => b === 0)).toBe(true);
    // The tree has no salt: the root hash is the /usr image's own, which veritysetup computes from the file alone.
    expect(a.salt).toBeNull();
    const own = await tool('veritysetup', ['format', '--salt=-', usr, join(dir, 'usr-own.hash')]);
    expect(/Root hash:\s+([0-9a-f]{64})/.exec(String(own.stdout))?.[1]).toBe(a.rootHash);
    expect(a.source).toEqual({ name: basename(usr), bytes: size });
    expect(a.version).toBe('1.0.0');
  });

  it('imgbuild verity-verify --slot A accepts the image', async () => {
    const r = await imgbuild(['verity-verify', img, '--slot', 'A', '--root-hash', m.slots.A.rootHash]);
    expect(r.exitCode, String(r.stderr)).toBe(0);
  });

  it("has an ESP that fsck.vfat -n accepts, holding the selector and slot A's own UKI, whose .cmdline names slot A only", async () => {
    const esp = part(m, 'EFI-SYSTEM');
    const espFile = join(dir, 'esp.part');
    await extract(img, esp.firstLba * 512, (esp.lastLba - esp.firstLba + 1) * 512, espFile);
    const fsck = await tool('fsck.vfat', ['-n', espFile], { reject: false });
    expect(fsck.exitCode, String(fsck.stdout)).toBe(0);
    const mt = { env: { MTOOLS_SKIP_CHECK: '1' } };
    const listing = String((await tool('mdir', ['-i', espFile, '-/', '-b', '::/'], mt)).stdout).split('\n').map((l) => l.trim()).filter((l) => l && !l.endsWith('/'));
    expect(listing.sort()).toEqual(['::/EFI/BOOT/BOOTX64.EFI', '::/EFI/Linux/imgbuild-usr-a.efi']);
    const selector = join(dir, 'BOOTX64.EFI');
    await tool('mcopy', ['-n', '-i', espFile, '::EFI/BOOT/BOOTX64.EFI', selector], mt);
    expect(m.boot.selector).toEqual({ path: 'EFI/BOOT/BOOTX64.EFI', sha256: sha256(selector) });
    const uki = join(dir, 'uki-a.efi');
    expect(m.boot.slots.A.uki).toBe('EFI/Linux/imgbuild-usr-a.efi');
    expect(m.boot.slots.B).toBeUndefined();
    await tool('mcopy', ['-n', '-i', espFile, `::${m.boot.slots.A.uki}`, uki], mt);
    expect(sha256(uki)).toBe(m.boot.slots.A.sha256);
    const cmdFile = join(dir, 'cmdline.bin');
    await tool('objcopy', ['-O', 'binary', '--only-section=.cmdline', uki, cmdFile]);
    const cmdline = readFileSync(cmdFile, 'utf8').replace(/\0+$/, '');
    expect(cmdline).toBe(m.boot.slots.A.cmdline);
    const words = cmdline.split(' ');
    for (const w of [
      `usrhash=${m.slots.A.rootHash}`,
      `verity.usrhash=${m.slots.A.rootHash}`,
      `verity.usr=PARTUUID=${m.slots.A.partuuid}`,
      `systemd.verity_usr_data=PARTUUID=${m.slots.A.partuuid}`,
      `verity.usrhashoffset=${m.slots.A.hashOffset}`,
      `systemd.verity_usr_options=hash-offset=${m.slots.A.hashOffset},restart-on-corruption`,
      'mount.usrfstype=squashfs',
      'imgbuild.slot=A',
    ]) {
      expect(words).toContain(w);
    }
    const linux = join(dir, 'linux.bin');
    await tool('objcopy', ['-O', 'binary', '--only-section=.linux', uki, linux]);
    expect(sha256(linux)).toBe(m.boot.slots.A.kernelSha256);
    expect(m.boot.slots.A.kernelSha256).toBe(sha256(kernel));
    expect(m.boot.slots.A.initrdSha256).toBe(sha256(initrd));
  });

  it('refuses boot files that leave no room on the ESP for slot B\'s UKI, before writing anything', async () => {
    const big = join(dir, 'big-initrd.img');
    writeFileSync(big, randomBytes(34 * 1024 * 1024)); // two UKIs of 34 MiB cannot share mini's 64 MiB ESP
    const out = join(dir, 'a', 'esp-too-small.raw');
    const r = await imgbuild(['build', '--from', usr, '--kernel', kernel, '--initrd', big, '--layout', 'mini', '-o', out], { env });
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr).trim()).toMatch(/^imgbuild: mini: the boot files need 68\.\d MiB on EFI-SYSTEM \(the selector, slot A's UKI and room for slot B's of the same size\) but its FAT holds 6\d\.\d MiB; use a layout with a larger ESP$/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(join(dir, 'a')).filter((f) => f.startsWith('.esp-too-small'))).toEqual([]);
  });

  it('refuses a layout without a USR-A/USR-B pair, naming the layout file', async () => {
    const layout = join(dir, 'noslots.json');
    writeFileSync(layout, JSON.stringify({ name: 'noslots', partitions: [{ number: 1, label: 'EFI-SYSTEM', type: 'efi', size: '64MiB', role: 'esp' }, { number: 2, label: 'ROOT', type: 'linux-data', size: '64MiB', role: 'root' }] }));
    const out = join(dir, 'a', 'noslots.raw');
    const r = await imgbuild(['build', '--from', usr, '--kernel', kernel, '--initrd', initrd, '--layout', layout, '-o', out], { env });
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr).trim()).toMatch(/noslots\.json: layout noslots: build needs one USR-A and one USR-B/);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses a --cmdline that sets a key imgbuild owns, before writing anything', async () => {
    const out = join(dir, 'a', 'owned.raw');
    const r = await build(out, ['--cmdline', 'quiet usrhash=0000 mount.usr=/dev/sda1']);
    expect(r.exitCode).toBe(2);
    expect(String(r.stderr).trim()).toBe('imgbuild: --cmdline may not set usrhash, mount.usr: imgbuild writes these from the slot it verifies');
    expect(existsSync(out)).toBe(false);
  });

  it("records the image's identity digest in the manifest, and no plain sha256 without --image-sha256", () => {
    expect(m.image.digest).toMatchObject({ algorithm: 'dm-verity-sha256-4k-nosalt', dataBlocks: statSync(img).size / 4096 });
    expect(m.image.digest!.rootHash).toMatch(/^[0-9a-f]{64}$/);
    expect(m.image.sha256).toBeNull();
  });
});

describe('reproducibility', () => {
  it('two builds in different folders are bit-identical, with and without a seed', async () => {
    for (const seedArgs of [['--seed', 'same'], []]) {
      const outs = ['r1', 'r2'].map((d) => {
        mkdirSync(join(dir, d), { recursive: true });
        return join(dir, d, `x${seedArgs.length}.raw`);
      });
      for (const o of outs) {
        const r = await imgbuild(['build', '--from-dir', join(ROOT, 'examples/usr'), '--kernel', kernel, '--initrd', initrd, '-o', o, '--image-sha256', ...seedArgs], { env });
        expect(r.exitCode, String(r.stderr)).toBe(0);
      }
      expect(sha256(outs[0])).toBe(sha256(outs[1]));
      expect(readManifest(`${outs[0]}.manifest.json`).image.sha256).toBe(sha256(outs[0]));
    }
  });

  it('a different seed changes the disk GUID and the superblock UUID, not the root hash (the /usr\'s own)', async () => {
    const o = join(dir, 'other-seed.raw');
    expect((await build(o, ['--seed', 'other'])).exitCode).toBe(0);
    const a = readManifest(join(dir, 'a', 'disk.raw.manifest.json'));
    const b = readManifest(`${o}.manifest.json`);
    expect(b.disk.guid).not.toBe(a.disk.guid);
    expect(b.slots.A.superblockUuid).not.toBe(a.slots.A.superblockUuid);
    expect(b.slots.A.rootHash).toBe(a.slots.A.rootHash);
    expect(b.slots.A.partuuid).toBe(a.slots.A.partuuid); // fixed by the layout
  });
});

describe('qemu_uefi bundle', () => {
  it("writes Flatcar's four files; the qcow2 passes qemu-img check and holds the same disk", async () => {
    const out = join(dir, 'vm');
    const r = await build(out, ['--format', 'qemu_uefi', '--image-sha256']);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['vm.manifest.json', 'vm.qcow2', 'vm.sh', 'vm_efi_code.fd', 'vm_efi_vars.fd']);
    const check = await tool('qemu-img', ['check', join(out, 'vm.qcow2')], { reject: false });
    expect(check.exitCode, String(check.stdout)).toBe(0);
    const raw = join(dir, 'vm-back.raw');
    await tool('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', join(out, 'vm.qcow2'), raw]);
    const m = readManifest(join(out, 'vm.manifest.json'));
    expect(sha256(raw)).toBe(m.image.sha256);
    expect(m.image.qcow2!.sha256).toBe(sha256(join(out, 'vm.qcow2')));
    expect(String((await tool('sgdisk', ['-v', raw])).stdout)).toMatch(/No problems found/);
    expect(statSync(join(out, 'vm_efi_code.fd')).mode & 0o222).toBe(0);
    const help = await tool('sh', [join(out, 'vm.sh'), '--help']);
    expect(String(help.stdout)).toMatch(/-i FILE/);
    const script = readFileSync(join(out, 'vm.sh'), 'utf8');
    expect(script).toContain('opt/org.flatcar-linux/config');
    expect(script).toContain('accel=$ACCEL');
  });
});

describe('--boot-style flatcar', () => {
  it('adds flatcar/vmlinuz-a with the root hash at 0x40, an initrd and a gptprio grub.cfg', async () => {
    const o = join(dir, 'flatcar-style.raw');
    expect((await build(o, ['--boot-style', 'flatcar'])).exitCode).toBe(0);
    const m = readManifest(`${o}.manifest.json`);
    const esp = part(m, 'EFI-SYSTEM');
    const at = `${o}@@${esp.firstLba * 512}`;
    const k = join(dir, 'vmlinuz-a');
    await tool('mcopy', ['-n', '-i', at, '::flatcar/vmlinuz-a', k], { env: { MTOOLS_SKIP_CHECK: '1' } });
    const a = readFileSync(k);
    const orig = readFileSync(kernel);
    expect(a.toString('latin1', 0x40, 0x80)).toBe(m.slots.A.rootHash);
    // Nothing else changed: the PE header (at 0x80 here) and the boot protocol header are intact.
    expect(Buffer.concat([a.subarray(0, 0x40), a.subarray(0x80)]).equals(Buffer.concat([orig.subarray(0, 0x40), orig.subarray(0x80)]))).toBe(true);
    const cfg = String((await tool('mtype', ['-i', at, '::flatcar/grub/grub.cfg'], { env: { MTOOLS_SKIP_CHECK: '1' } })).stdout);
    expect(cfg).toContain('gptprio.next');
    expect(cfg).toContain('initrd /flatcar/initrd');
    const initrdOnEsp = join(dir, 'flatcar-initrd');
    await tool('mcopy', ['-n', '-i', at, '::flatcar/initrd', initrdOnEsp], { env: { MTOOLS_SKIP_CHECK: '1' } });
    expect(sha256(initrdOnEsp)).toBe(sha256(initrd));
  });

  it("refuses a kernel whose PE header sits where the hash would go, before writing anything", async () => {
    const k = readFileSync(kernel);
    k.writeUInt32LE(0x40, 0x3c);
    const bad = join(dir, 'vmlinuz-pe-at-40');
    writeFileSync(bad, k);
    const o = join(dir, 'flatcar-refused.raw');
    const r = await imgbuild(['build', '--from', usr, '--kernel', bad, '--initrd', initrd, '--boot-style', 'flatcar', '-o', o], { env });
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr)).toMatch(/vmlinuz-pe-at-40: --boot-style flatcar: this kernel's PE header is at 0x40/);
    expect(existsSync(o)).toBe(false);
  });
});

describe('bad input: one line, exit 1, nothing left behind', () => {
  const out = () => join(dir, 'bad', 'out.raw');
  beforeAll(() => mkdirSync(join(dir, 'bad'), { recursive: true }));

  async function expectFailure(args: string[], re: RegExp) {
    const r = await imgbuild(['build', ...args, '-o', out()], { env });
    expect(r.exitCode, String(r.stdout)).toBe(1);
    const lines = String(r.stderr).trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(re);
    expect(readdirSync(join(dir, 'bad'))).toEqual(existsSync(join(dir, 'bad', 'keep')) ? ['keep'] : []);
  }

  it('missing /usr image', () => expectFailure(['--from', join(dir, 'nope.squashfs'), '--kernel', kernel, '--initrd', initrd], /nope\.squashfs: no such file/));
  it('not a squashfs', () => expectFailure(['--from', kernel, '--kernel', kernel, '--initrd', initrd], /vmlinuz: not a squashfs/));
  it('too large for the slot, saying by how much', async () => {
    // a valid filesystem in a file padded past the slot: the slot must hold the whole file
    const big = join(dir, 'big.squashfs');
    writeFileSync(big, readFileSync(usr));
    truncateSync(big, 200 * 1024 * 1024);
    await expectFailure(['--from', big, '--kernel', kernel, '--initrd', initrd], /big\.squashfs: too large for USR-A by \d+ bytes/);
  });
  it('kernel missing', () => expectFailure(['--from', usr, '--kernel', join(dir, 'no-kernel'), '--initrd', initrd], /no-kernel: kernel not found/));
  it('initrd missing', () => expectFailure(['--from', usr, '--kernel', kernel, '--initrd', join(dir, 'no-initrd')], /no-initrd: initrd not found/));
  it('invalid layout', async () => {
    const l = join(dir, 'broken-layout.json');
    writeFileSync(l, JSON.stringify({ partitions: [{ number: 1, label: 'X', type: 'efi', size: '8MiB', role: 'esp' }, { number: 1, label: 'Y', type: 'efi', size: '8MiB' }] }));
    await expectFailure(['--from', usr, '--kernel', kernel, '--initrd', initrd, '--layout', l], /broken-layout\.json.*duplicate partition number 1/);
  });
  it('an existing manifest is not overwritten without --force either', async () => {
    const o = join(dir, 'bad', 'fresh.raw');
    writeFileSync(`${o}.manifest.json`, '{"mine":1}');
    const r = await imgbuild(['build', '--from', usr, '--kernel', kernel, '--initrd', initrd, '-o', o], { env });
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr)).toMatch(/fresh\.raw\.manifest\.json: output exists/);
    expect(readFileSync(`${o}.manifest.json`, 'utf8')).toBe('{"mine":1}');
    expect(existsSync(o)).toBe(false);
    rmSync(`${o}.manifest.json`);
  });
  it('output exists, without --force', async () => {
    writeFileSync(join(dir, 'bad', 'keep'), 'x');
    const r = await imgbuild(['build', '--from', usr, '--kernel', kernel, '--initrd', initrd, '-o', join(dir, 'bad', 'keep')], { env });
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr)).toMatch(/keep: output exists/);
    expect(readFileSync(join(dir, 'bad', 'keep'), 'utf8')).toBe('x');
    expect(readdirSync(join(dir, 'bad'))).toEqual(['keep']);
  });
  it('leaves nothing behind when interrupted (SIGINT): no output, no temporary, no scratch', async () => {
    // 120 MB of /usr (a valid filesystem, then random padding) keeps the build busy well past the signal.
    const big = join(dir, 'busy.squashfs');
    writeFileSync(big, Buffer.concat([readFileSync(usr), randomBytes(120_000_000)]));
    const scratch = join(dir, 'scratch-tmp');
    mkdirSync(scratch);
    const o = join(dir, 'bad', 'interrupted.raw');
    const child = execa('node', [join(ROOT, 'packages/cli/dist/bin.js'), 'build', '--from', big, '--kernel', kernel, '--initrd', initrd, '-o', o], {
      env: { ...env, TMPDIR: scratch },
      reject: false,
    });
    // Signal once the temporary image exists: the build is then surely under way, handlers installed.
    const started = Date.now();
    while (!readdirSync(join(dir, 'bad')).some((f) => f.startsWith('.interrupted.raw.tmp-')) && Date.now() - started < 60_000) {
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill('SIGINT');
    const r = await child;
    expect(r.exitCode, 'the build should still have been running').toBe(130);
    expect(readdirSync(join(dir, 'bad')).filter((f) => f !== 'keep')).toEqual([]);
    expect(readdirSync(scratch)).toEqual([]);
  });
});

