/**
 * Issue #25: trust under pressure. One advisory lock (flock on the image) for every writer, a lock that
 * dies with its holder, signals that stop qemu, and a closed stdout that never turns a failure into 0.
 * Needs a build (`npm run build`): it runs packages/cli/dist.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, cpSync, existsSync, openSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { readSlotStatus } from '../packages/core/src/slot/image.js';
import type { GptTable } from '../packages/core/src/gpt/table.js';
import { markSuccessful, setSlotBits, slotStatus, upgrade } from '../packages/core/src/slot/index.js';
import { CLI, fakeBzImage, imgbuild, ROOT, tempDir, tool, copyOfImage } from './helpers.js';

const dir = tempDir('imgbuild-pressure-');
const built = join(dir, 'built.raw');
const bigUsr = join(dir, 'big.squashfs');
const kernel = join(dir, 'vmlinuz');
const initrd = join(dir, 'initrd.img');
const env = { SOURCE_DATE_EPOCH: '1700000000' };
let n = 0;

beforeAll(async () => {
  writeFileSync(kernel, fakeBzImage());
  writeFileSync(initrd, randomBytes(100_000));
  const usr = join(dir, 'usr.squashfs');
  const tree = join(dir, 'usrtree');
  cpSync(join(ROOT, 'examples/usr'), tree, { recursive: true });
  await tool('mksquashfs', [tree, usr, '-noappend', '-all-root', '-quiet']);
  // A /usr big enough that an update takes a while (uncompressed: quick to make, slow to copy and hash).
  mkdirSync(join(tree, 'share/big'), { recursive: true });
  writeFileSync(join(tree, 'share/big/blob'), randomBytes(96 * 1024 * 1024));
  await tool('mksquashfs', [tree, bigUsr, '-noappend', '-all-root', '-quiet', '-noI', '-noD', '-noF', '-noX']);
  const r = await imgbuild(['build', '--from', usr, '--kernel', kernel, '--initrd', initrd, '--layout', 'mini', '--seed', 's', '-o', built], { env });
  expect(r.exitCode, String(r.stderr)).toBe(0);
});

function copyOfBuilt(): string {
  return copyOfImage(built, dir);
}

/** Holds the image's flock (the same advisory lock imgbuild takes) from another process, like a running writer. */
async function holdLock(path: string): Promise<() => Promise<void>> {
  // --no-fork: the lock is held by sleep itself (the same pid), so killing it releases the lock at once.
  const holder = execa('flock', ['--exclusive', '--no-fork', path, 'sleep', '60'], { reject: false });
  for (let i = 0; i < 100; i++) {
    const probe = await execa('flock', ['--nonblock', path, 'true'], { reject: false });
    if (probe.exitCode !== 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return async () => {
    holder.kill('SIGKILL');
    await holder;
  };
}

const isLocked = async (path: string) => (await execa('flock', ['--nonblock', path, 'true'], { reject: false })).exitCode !== 0;

describe('every command that writes an image takes its lock', () => {
  const writers: Array<[string, (img: string) => string[]]> = [
    ['slot set', (img) => ['slot', 'set', img, 'A', '--priority', '9']],
    ['slot prioritize', (img) => ['slot', 'prioritize', img, 'A']],
    ['slot next', (img) => ['slot', 'next', img]],
    ['slot rollback', (img) => ['slot', 'rollback', img]],
    ['gpt repair', (img) => ['gpt', 'repair', img]],
    ['update', (img) => ['update', img, '--from', bigUsr]],
    ['build --force', (img) => ['build', '--from', bigUsr, '--kernel', kernel, '--initrd', initrd, '--layout', 'mini', '-o', img, '--force']],
    ['qemu', (img) => ['qemu', img, '--timeout', '5']],
  ];

  it.each(writers)('%s refuses at once while another holds it (IMGBUILD_LOCK_WAIT=0), leaving the image as it was', async (_name, args) => {
    const img = copyOfBuilt();
    const before = readFileSync(img);
    const release = await holdLock(img);
    try {
      const r = await imgbuild(args(img), { env: { ...env, IMGBUILD_LOCK_WAIT: '0' } });
      expect(r.exitCode).toBe(1);
      expect(String(r.stderr).trim()).toMatch(new RegExp(`^imgbuild: ${img}: another imgbuild command is writing this image`));
      expect(String(r.stderr).trim().split('\n')).toHaveLength(1);
    } finally {
      await release();
    }
    expect(readFileSync(img).equals(before)).toBe(true);
  });

  it('a writer waits for the holder and then runs (the wait is said on stderr)', async () => {
    const img = copyOfBuilt();
    const release = await holdLock(img);
    const cmd = imgbuild(['slot', 'set', img, 'A', '--priority', '9'], { env: { ...env, IMGBUILD_LOCK_WAIT: '60' } });
    // Released once the writer says it waits (not after a fixed time: on a loaded machine node may
    // not even have started by then).
    await new Promise<void>((resolve) => {
      let said = '';
      cmd.stderr!.on('data', (b: Buffer) => {
        said += String(b);
        if (/waiting for another imgbuild command/.test(said)) resolve();
      });
      void cmd.then(() => resolve());
    });
    await release();
    const r = await cmd;
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(String(r.stderr)).toMatch(/waiting for another imgbuild command that is writing it/);
    expect((await readSlotStatus(img)).status.slots.find((s) => s.slot === 'A')!.priority).toBe(9);
  });

  it('readers take no lock: slot status and verify run while a writer holds it', async () => {
    const img = copyOfBuilt();
    const release = await holdLock(img);
    try {
      expect((await imgbuild(['slot', 'status', img], { env: { IMGBUILD_LOCK_WAIT: '0' } })).exitCode).toBe(0);
      expect((await imgbuild(['verify', img], { env: { IMGBUILD_LOCK_WAIT: '0' } })).exitCode).toBe(0);
    } finally {
      await release();
    }
  });
});

describe('the lock dies with its holder', () => {
  it('kill -9 during update leaves no lock behind: the next writer runs at once, and no IMAGE.lock file exists', async () => {
    const img = copyOfBuilt();
    const child = spawn('node', [CLI, 'update', img, '--from', bigUsr], { stdio: 'ignore', env: { ...process.env, ...env } });
    let seen = false;
    for (let i = 0; i < 200 && !seen; i++) {
      seen = await isLocked(img);
      if (!seen) await new Promise((r) => setTimeout(r, 25));
    }
    expect(seen).toBe(true);
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    expect(existsSync(`${img}.lock`)).toBe(false);
    const r = await imgbuild(['slot', 'set', img, 'A', '--priority', '3'], { env: { IMGBUILD_LOCK_WAIT: '0' } });
    expect(r.exitCode, String(r.stderr)).toBe(0);
  });
});

describe('concurrent writers: the result equals some serial order of the commands that succeeded', () => {
  type Cmd = { name: string; args: (img: string) => string[]; model: (t: GptTable) => GptTable };
  const commands: Cmd[] = [
    { name: 'update', args: (img) => ['update', img, '--from', bigUsr], model: (t) => upgrade(setSlotBits(t, 'B', { priority: 0, tries: 0, successful: false }), 'B') },
    { name: 'set A priority', args: (img) => ['slot', 'set', img, 'A', '--priority', '7'], model: (t) => setSlotBits(t, 'A', { priority: 7 }) },
    { name: 'set A tries', args: (img) => ['slot', 'set', img, 'A', '--tries', '5'], model: (t) => setSlotBits(t, 'A', { tries: 5 }) },
    { name: 'mark-successful A', args: (img) => ['slot', 'mark-successful', img, 'A'], model: (t) => markSuccessful(t, 'A') },
    { name: 'gpt repair', args: (img) => ['gpt', 'repair', img], model: (t) => t },
  ];

  function permutations<T>(xs: T[]): T[][] {
    if (xs.length <= 1) return [xs];
    return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((rest) => [x, ...rest]));
  }

  const bits = (t: GptTable) => JSON.stringify(slotStatus(t).slots.map((s) => [s.slot, s.priority, s.tries, s.successful]));

  it.each([1, 2, 3])('round %i', async () => {
    const img = copyOfBuilt();
    const start = (await readSlotStatus(img)).table;
    // All at once; each waits for the lock as long as it needs.
    const runs = await Promise.all(commands.map((c) => imgbuild(c.args(img), { env: { ...env, IMGBUILD_LOCK_WAIT: '120' } })));
    const ok = commands.filter((_, i) => runs[i].exitCode === 0);
    for (const [i, r] of runs.entries()) expect(r.exitCode, `${commands[i].name}: ${r.stderr}`).toBe(0);
    const found = bits((await readSlotStatus(img)).table);
    const serial = permutations(ok).map((order) => {
      try {
        return bits(order.reduce((t, c) => c.model(t), start));
      } catch {
        return null; // an order in which a guard would have refused: not what happened
      }
    });
    expect(serial).toContain(found);
    // The update landed whole: the new slot verifies against the manifest.
    const v = await imgbuild(['verify', img]);
    expect(v.exitCode, String(v.stdout)).toBe(0);
  });
});

describe('signals and pipes', () => {
  it('SIGTERM to imgbuild qemu stops qemu and removes its temporary folder', async () => {
    const img = copyOfBuilt();
    const tmpBefore = new Set(readdirSync(tmpdir()).filter((f) => f.startsWith('imgbuild-qemu-')));
    const child = spawn('node', [CLI, 'qemu', img, '--timeout', '120'], { stdio: 'ignore' });
    const running = async () => (await execa('pgrep', ['-f', `file=${img},format=raw`], { reject: false })).exitCode === 0;
    let up = false;
    for (let i = 0; i < 200 && !up; i++) {
      up = await running();
      if (!up) await new Promise((r) => setTimeout(r, 50));
    }
    expect(up).toBe(true);
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => child.on('close', r));
    expect(code).toBe(143);
    await new Promise((r) => setTimeout(r, 300));
    expect(await running()).toBe(false);
    const left = readdirSync(tmpdir()).filter((f) => f.startsWith('imgbuild-qemu-') && !tmpBefore.has(f));
    expect(left).toEqual([]);
    expect(await isLocked(img)).toBe(false);
  });

  it('verify of a tampered image into a closed pipe still exits 1 (never 0), every time', async () => {
    const img = copyOfBuilt();
    const m = JSON.parse(readFileSync(`${img}.manifest.json`, 'utf8')) as { partitions: { label: string; firstLba: number }[] };
    const a = m.partitions.find((p) => p.label === 'USR-A')!;
    const buf = readFileSync(img);
    buf[a.firstLba * 512 + 4096 * 3] ^= 0xff;
    writeFileSync(img, buf);
    for (let i = 0; i < 4; i++) {
      const code = await new Promise<number | null>((resolve) => {
        const c = spawn('node', [CLI, 'verify', img], { stdio: ['ignore', 'pipe', 'ignore'] });
        c.stdout.once('data', () => c.stdout.destroy()); // `| head -1`: the reader leaves after the first line
        c.on('close', resolve);
      });
      expect(code).toBe(1);
    }
  });
});

describe('layouts and slots that cannot boot are refused', () => {
  /** The mini layout as JSON, changed by `edit`, written beside the test's files. */
  async function layoutFile(name: string, edit: (l: { partitions: Array<Record<string, unknown>> }) => void): Promise<string> {
    const { BUILTIN_LAYOUTS } = await import('../packages/core/src/layout/builtin.js');
    const l = JSON.parse(JSON.stringify(BUILTIN_LAYOUTS.mini)) as { name: string; partitions: Array<Record<string, unknown>> };
    l.name = name;
    edit(l);
    const f = join(dir, `${name}.json`);
    writeFileSync(f, JSON.stringify(l));
    return f;
  }

  const build = (layout: string, out: string) => imgbuild(['build', '--from', bigUsr, '--kernel', kernel, '--initrd', initrd, '--layout', layout, '-o', out], { env });

  it('a layout with two ESPs is refused (build and layout show), naming both', async () => {
    const f = await layoutFile('two-esps', (l) => {
      const oem = l.partitions.find((p) => p.label === 'OEM')!;
      oem.role = 'esp';
    });
    const out = join(dir, 'two-esps.raw');
    const r = await build(f, out);
    expect(r.exitCode).not.toBe(0);
    expect(String(r.stderr).trim()).toMatch(/2 partitions have role "esp" \(1 \(EFI-SYSTEM\), 6 \(OEM\)\); a disk has at most one/);
    expect(existsSync(out)).toBe(false);
    expect((await imgbuild(['layout', 'show', f])).exitCode).not.toBe(0);
  });

  it.each([
    ['B bootable while empty', (l: { partitions: Array<Record<string, unknown>> }) => (l.partitions.find((p) => p.label === 'USR-B')!.attributes = { priority: 5, successful: true }), /slot B is empty in a fresh image but its attributes make it bootable \(priority 5, tries 0, successful 1\)/],
    ['no boot attributes at all', (l: { partitions: Array<Record<string, unknown>> }) => delete l.partitions.find((p) => p.label === 'USR-A')!.attributes, /a fresh image could not boot: slot A's attributes make it unbootable \(priority 0, tries 0, successful 0\)/],
  ])('build refuses a layout whose fresh image cannot boot A (%s), before the first write', async (name, edit, msg) => {
    const f = await layoutFile(`unbootable-${name.replace(/\W+/g, '-')}`, edit);
    const out = join(dir, `unbootable-${n++}.raw`);
    const r = await build(f, out);
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr).trim()).toMatch(msg);
    expect(String(r.stderr).trim().split('\n')).toHaveLength(1);
    expect(existsSync(out)).toBe(false);
  });

  it('slot upgrade refuses an empty slot (as prioritize, mark-successful and set do); --force allows it', async () => {
    const img = copyOfBuilt();
    const r = await imgbuild(['slot', 'upgrade', img, 'B']);
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr)).toMatch(/cannot upgrade slot B \(USR-B, partition 4\): it holds no \/usr/);
    expect((await readSlotStatus(img)).status.next).toBe('A');
    expect((await imgbuild(['slot', 'upgrade', img, 'B', '--force'])).exitCode).toBe(0);
  });
});

describe('block devices: read, never written', () => {
  const devices = ['/dev/vda', '/dev/sda', '/dev/nvme0n1', '/dev/xvda', '/dev/loop0'].filter((d) => {
    try {
      return statSync(d).isBlockDevice();
    } catch {
      return false;
    }
  });
  // One this machine lets us open (sandboxes often refuse even root) and that has a size (a loop
  // device without a backing file is 0 bytes, and "only 0 bytes" is then the truth): then the whole
  // read path is judged.
  const readable = devices.find((d) => {
    try {
      closeSync(openSync(d, 'r'));
      return Number(readFileSync(`/sys/class/block/${basename(d)}/size`, 'utf8')) > 0;
    } catch {
      return false;
    }
  });

  it.skipIf(devices.length === 0)('every writer refuses a device in one line before opening it; its size comes from sysfs as lsblk reads it', async () => {
    const device = devices[0];
    for (const args of [['slot', 'set', device, 'A', '--priority', '1'], ['gpt', 'repair', device], ['update', device, '--from', bigUsr]]) {
      const r = await imgbuild(args);
      expect(r.exitCode, args.join(' ')).toBe(1);
      expect(String(r.stderr).trim()).toBe(`imgbuild: ${device}: is a block device; imgbuild reads devices but writes only image files (write the image to the device with dd)`);
    }
    const { blockDeviceBytes } = await import('../packages/core/src/storage.js');
    const lsblk = Number(String((await execa('lsblk', ['-bdno', 'SIZE', device])).stdout).trim());
    expect(await blockDeviceBytes(statSync(device).rdev, device)).toBe(lsblk);
  });

  it.skipIf(!readable)('gpt show on a device it can read is sized, not "only 0 bytes"', async () => {
    const show = await imgbuild(['gpt', 'show', readable!]);
    expect(String(show.stderr)).not.toMatch(/only 0 bytes/);
  });
});

describe('update checks the ESP before writing, in a dry run too', () => {
  it('an initrd that leaves no room on the ESP is refused by --dry-run and by the real run, before /usr is written', async () => {
    const initrd25 = join(dir, 'initrd-25m');
    const initrd45 = join(dir, 'initrd-45m');
    writeFileSync(initrd25, randomBytes(25 * 1024 * 1024));
    writeFileSync(initrd45, randomBytes(45 * 1024 * 1024));
    const img = join(dir, `esp-room-${n++}.raw`);
    const b = await imgbuild(['build', '--from', bigUsr, '--kernel', kernel, '--initrd', initrd25, '--layout', 'mini', '-o', img], { env });
    expect(b.exitCode, String(b.stderr)).toBe(0);
    const before = readFileSync(img);
    for (const extra of [['--dry-run'], []]) {
      const r = await imgbuild(['update', img, '--from', bigUsr, '--initrd', initrd45, ...extra], { env });
      expect(r.exitCode, `update ${extra.join(' ')}`).toBe(1);
      expect(String(r.stderr).trim()).toMatch(/the ESP \(EFI-SYSTEM\) would need [\d.]+ MiB while this update writes EFI\/Linux\/imgbuild-usr-b\.efi \(45\.\d MiB\) but its FAT holds [\d.]+ MiB; nothing was written$/);
      expect(readFileSync(img).equals(before)).toBe(true);
    }
    // the same initrd size as the build's still fits: the room the build kept for B
    const ok = await imgbuild(['update', img, '--from', bigUsr, '--dry-run'], { env });
    expect(ok.exitCode, String(ok.stderr)).toBe(0);
    // Two real updates: the second rewrites A's UKI while B's is there. A side copy of it would not
    // fit; A is not bootable while it is written, so its UKI is replaced in place.
    for (const slot of ['B', 'A']) {
      const u = await imgbuild(['update', img, '--from', bigUsr, '--json'], { env });
      expect(u.exitCode, String(u.stderr)).toBe(0);
      expect(JSON.parse(String(u.stdout)).slot).toBe(slot);
      expect((await imgbuild(['slot', 'mark-successful', img, slot, '--force'])).exitCode).toBe(0); // as if it had booted
    }
    expect((await imgbuild(['verify', img], { env })).exitCode).toBe(0);
  });
});

describe('verify holds an empty slot to zeros', () => {
  it('a squashfs dd-ed into the empty USR-B fails verify, naming the slot and the byte; a fresh image passes reading nothing there', async () => {
    // The build's own image (a copy may have its holes filled by the copy): its empty slot is a hole.
    const fresh = await imgbuild(['verify', built, '--json']);
    expect(fresh.exitCode, String(fresh.stdout)).toBe(0);
    const b = (JSON.parse(String(fresh.stdout)) as { checks: Array<{ region: string; name: string; status: string; detail: string }> }).checks.find((c) => c.region === 'slot B')!;
    expect(b).toMatchObject({ name: 'contents', status: 'ok' });
    expect(b.detail).toMatch(/empty, as recorded: all \d+ bytes are zero \(0 bytes held data to read\)/);
    const img = copyOfBuilt();
    const m = JSON.parse(readFileSync(`${img}.manifest.json`, 'utf8')) as { partitions: { label: string; firstLba: number }[] };
    const partB = m.partitions.find((p) => p.label === 'USR-B')!;
    await tool('dd', [`if=${join(dir, 'usr.squashfs')}`, `of=${img}`, 'bs=512', `seek=${partB.firstLba}`, 'conv=notrunc']);
    const r = await imgbuild(['verify', img]);
    expect(r.exitCode).toBe(1);
    expect(String(r.stdout)).toMatch(/FAIL +slot B: contents: the manifest records no \/usr in slot B, but the partition holds data from byte 0/);
  });
});

describe('an update interrupted after its UKI reached the ESP', () => {
  it('verifies as the old image, the unfinished slot and UKI named; the next update repairs it', async () => {
    const { pendingUpdateManifest, encodeManifest } = await import('../packages/core/src/manifest/manifest.js');
    const { readManifest } = await import('../packages/core/src/manifest/manifest.js');
    // Where an update stands just before its manifest: B's bytes and UKI written, the flip not yet made.
    const donor = copyOfBuilt();
    expect((await imgbuild(['update', donor, '--from', bigUsr], { env })).exitCode).toBe(0);
    expect((await imgbuild(['slot', 'cancel-upgrade', donor])).exitCode).toBe(0);
    const img = copyOfBuilt();
    const old = await readManifest(`${img}.manifest.json`);
    writeFileSync(`${img}.manifest.json`, encodeManifest(pendingUpdateManifest(old, 'B', ['EFI/Linux/imgbuild-usr-b.efi'])));
    cpSync(donor, img); // the image as the interrupted update left it, beside the pending manifest
    const v = await imgbuild(['verify', img]);
    expect(v.exitCode, String(v.stdout)).toBe(0);
    expect(String(v.stdout)).toMatch(/not covered: esp: EFI\/Linux\/imgbuild-usr-b\.efi: written by an interrupted update of slot B; run imgbuild update again/);
    expect(String(v.stdout)).not.toMatch(/unexpected file/);
    // the slot verbs treat it as empty: nothing may make it boot
    expect((await imgbuild(['slot', 'mark-successful', img, 'B'])).exitCode).toBe(1);
    const again = await imgbuild(['update', img, '--from', bigUsr], { env });
    expect(again.exitCode, String(again.stderr)).toBe(0);
    const after = await imgbuild(['verify', img]);
    expect(after.exitCode, String(after.stdout)).toBe(0);
    expect(String(after.stdout)).not.toMatch(/interrupted/);
  });
});
