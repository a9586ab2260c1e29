/**
 * Self-healing boots with the boot kit (busybox initramfs, hack/initramfs/init) under qemu with its
 * i6300esb watchdog: every run is one `imgbuild qemu --allow-reset N`, and nothing but the guest, its
 * watchdog and the selector moves it from the fault to the healthy fallback (docs/boot.md,
 * "Self-healing boots"). The example OS's cases (dm-verity restart, systemd's watchdog) are in
 * heal-os.test.ts.
 *
 *   1. a new slot whose initrd hangs (its disk driver is missing, so /usr never appears): the watchdog
 *      resets the machine, the selector falls back to A;
 *   2. a blessed slot whose /usr is corrupted afterwards: three failed boots, each counted, then the
 *      selector demotes it and boots the other; `slot status` names it;
 *   3. both slots corrupted and demoted: the selector says so, starts the least bad one, and keeps
 *      going (stopped by the harness's bound, never powered off).
 *
 * About 9 boots of 10-25 s; the fault-to-healthy times are printed at the end.
 */
import { execa } from 'execa';
import { mkdirSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imgbuild, tempDir } from '../helpers.js';
import { boot, bootKit, env, flipFileByte, readManifest, slotStatus, usrImage, type Kit } from './boot.js';

const dir = tempDir('imgbuild-heal-');
const base = join(dir, 'base.raw');
let kit: Kit;
let v1: { path: string; tag: Buffer };
let v2: { path: string; tag: Buffer };
const times: string[] = [];

const cp = (from: string, to: string) => execa('cp', ['--sparse=always', from, to]).then(() => execa('cp', [`${from}.manifest.json`, `${to}.manifest.json`]));

async function ok(args: string[]) {
  const r = await imgbuild(args, { env });
  expect(r.exitCode, `imgbuild ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r;
}

/**
 * The kit's initrd with a second archive appended that replaces /lib/modules/load.order by one without
 * virtio_blk: the kernel unpacks both, the later file wins, and the disk never appears.
 */
async function hangingInitrd(): Promise<string> {
  const root = join(dir, 'no-disk');
  mkdirSync(join(root, 'lib/modules'), { recursive: true });
  const order = (await execa('sh', ['-c', `zcat "${kit.initrd}" | cpio -i --to-stdout lib/modules/load.order 2>/dev/null`])).stdout;
  expect(order).toMatch(/virtio_blk\.ko/);
  writeFileSync(join(root, 'lib/modules/load.order'), order.split('\n').filter((l) => l !== 'virtio_blk.ko').join('\n') + '\n');
  const out = join(dir, 'hang-initrd.img');
  writeFileSync(out, readFileSync(kit.initrd));
  const extra = await execa('sh', ['-c', `cd "${root}" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 | gzip -n`], { encoding: 'buffer', stripFinalNewline: false });
  appendFileSync(out, Buffer.from(extra.stdout as Uint8Array));
  return out;
}

/** Seconds from the start of the run (the faulty boot) to its end (the healthy boot's marker and power-off). */
const record = (name: string, json: { durationMs: number; resets: { events: Array<{ atMs: number; cause: string }> } }) =>
  times.push(`${name}: ${(json.durationMs / 1000).toFixed(1)} s (resets at ${json.resets.events.map((e) => `${(e.atMs / 1000).toFixed(1)} s ${e.cause}`).join(', ')})`);

beforeAll(async () => {
  kit = await bootKit();
  v1 = await usrImage(dir, '1', 0);
  v2 = await usrImage(dir, '2', 0);
  await ok(['build', '--from', v1.path, '--kernel', kit.kernel, '--initrd', kit.initrd, '--layout', 'mini', '-o', base, '--seed', 'heal-test']);
}, 900_000);

afterAll(() => {
  if (times.length) console.log(`fault → healthy fallback (boot kit):\n  ${times.join('\n  ')}`);
});

describe('self-healing boots (boot kit)', { timeout: 600_000 }, () => {
  it('1. a new slot whose initrd hangs waiting for /usr: the watchdog resets, the selector falls back', async () => {
    const img = join(dir, 'hang.raw');
    await cp(base, img);
    await ok(['update', img, '--from', v2.path, '--kernel', kit.kernel, '--initrd', await hangingInitrd()]);
    const { json, exitCode, log } = await boot(img, 'hang', { allowReset: 2 });
    expect(exitCode, json.failure?.detail).toBe(0);
    expect(json.selector.choices.map((c) => [c.slot, c.triesBefore, c.triesAfter, c.attemptsBefore, c.attemptsAfter])).toEqual([
      ['B', 1, 0, 0, 1],
      ['A', 0, 0, 0, 1],
    ]);
    expect(json.resets).toMatchObject({ count: 1, watchdog: 1 });
    expect(json).toMatchObject({ slot: 'A', version: '1', health: 'ok', failure: null });
    expect(log).toMatch(/imgbuild-init: watchdog armed: i6300ESB timer, 15 s heartbeat/);
    const st = await slotStatus(img);
    expect(st.B).toMatchObject({ tries: 0, successful: false, attempts: 1, demoted: false });
    expect(st.A).toMatchObject({ successful: true, attempts: 0 }); // the healthy boot cleared its count
    record('initrd hang (watchdog)', json);
  });

  const blessed = join(dir, 'blessed.raw');
  it('2. a blessed slot whose /usr goes bad: 3 failed boots, then demoted; the other boots; slot status says why', async () => {
    await cp(base, blessed);
    await ok(['update', blessed, '--from', v2.path]);
    await ok(['slot', 'mark-successful', blessed, 'B']); // B was good: blessed, on top
    flipFileByte(blessed, readManifest(blessed), 'USR-B', v2.tag);
    const { json, exitCode } = await boot(blessed, 'blessed', { allowReset: 4 });
    expect(exitCode, json.failure?.detail).toBe(0);
    expect(json.selector.choices.map((c) => [c.slot, c.attemptsBefore, c.attemptsAfter])).toEqual([
      ['B', 0, 1],
      ['B', 1, 2],
      ['B', 2, 3],
      ['A', 0, 1],
    ]);
    expect(json.selector.lines).toContain('slot=B demoted: its last 3 boots never became healthy');
    expect(json.resets).toMatchObject({ count: 3, watchdog: 0 });
    expect(json).toMatchObject({ slot: 'A', version: '1', health: 'ok' });
    const st = await slotStatus(blessed);
    expect(st.B).toMatchObject({ successful: true, attempts: 7, demoted: true });
    expect(st.A).toMatchObject({ attempts: 0, demoted: false });
    expect(st.next).toBe('A');
    const text = await ok(['slot', 'status', blessed]);
    expect(String(text.stdout)).toMatch(/slot B demoted by the selector: its last boots never became healthy/);
    record('blessed slot corrupted (3 boots, demoted)', json);
  });

  it('3. both slots bad: the selector says so, starts the least bad, and never powers off', async () => {
    flipFileByte(blessed, readManifest(blessed), 'USR-A', v1.tag);
    await ok(['slot', 'set', blessed, 'A', '--attempts', '3']); // as if A had failed 3 times too (case 2 showed the counting)
    const { json, exitCode } = await boot(blessed, 'both', { allowReset: 1 });
    expect(exitCode).toBe(1);
    expect(json.failure?.reason).toBe('reset-limit');
    expect(json.resets.count).toBe(2);
    const least = json.selector.lines.filter((l) => l.startsWith('no healthy slot ('));
    expect(least.length).toBe(2);
    expect(least[0]).toMatch(/A: priority=\d+ tries=0 successful=1 attempts=demoted; B: priority=\d+ tries=0 successful=1 attempts=demoted\); trying the least bad: A$/);
    expect(json.selector.lines.join('\n')).not.toMatch(/powering off/);
    expect(json.selector.choices.map((c) => c.slot)).toEqual(['A', 'A']);
  });
});
