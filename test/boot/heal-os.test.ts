/**
 * Self-healing boots of the example OS (os/debian: systemd 254 in the initrd and as PID 1) under qemu
 * with its i6300esb watchdog, in one `imgbuild qemu --allow-reset 2` run (docs/boot.md, "Self-healing
 * boots"):
 *
 *   a new slot (v2 on B, one try) whose /usr has a corrupted block where systemd reads first (udev's
 *   probe of /dev/mapper/usr in the initrd): dm-verity's restart-on-corruption resets the machine at
 *   once, the selector falls back to A (v1) with no help from the harness, and A boots to multi-user
 *   with the watchdog armed in the initrd (its PID 1 tries to stop it at switch-root, and nowayout
 *   keeps it running: the kernel says so), armed again by the real PID 1, and active at the marker.
 *
 * Then v3, whose PID 1 crashes once the system is up (fixtures/os-crash), is written to B: systemd's
 * CrashReboot reboots instead of freezing, and the selector falls back to A again.
 *
 * Four boots of 60-110 s here (TCG, 2 CPUs); the fault-to-healthy times are printed.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { imgbuild, ROOT, tempDir } from '../helpers.js';
import { boot, env, readManifest, slotStatus } from './boot.js';
import { corruptUsr, exampleOs, OS_QEMU, type OsBuild } from './os.js';

const dir = tempDir('imgbuild-heal-os-');
const img = join(dir, 'os.raw');
const BOOT_S = 240;
let v1: OsBuild;
let v2: OsBuild;
let v3: OsBuild;

beforeAll(async () => {
  v1 = await exampleOs('1');
  v2 = await exampleOs('2');
  v3 = await exampleOs('3', join(ROOT, 'test/boot/fixtures/os-crash'));
  const r = await imgbuild(
    ['build', '--from', v1.usr, '--root-tree', v1.root, '--kernel', v1.kernel, '--initrd', v1.initrd, '--layout', 'flatcar', '--seed', 'heal-os', '--cmdline', 'imgbuild.test=poweroff', '-o', img],
    { env },
  );
  expect(r.exitCode, String(r.stderr)).toBe(0);
  const u = await imgbuild(['update', img, '--from', v2.usr], { env });
  expect(u.exitCode, String(u.stderr)).toBe(0);
}, 2_400_000);

describe('self-healing boots of the example OS', { timeout: (2 * BOOT_S + 120) * 1000 }, () => {
  it('a new slot with /usr corrupted where systemd reads first: dm-verity restarts, the selector falls back to A, watched all along', async () => {
    const m = readManifest(img);
    corruptUsr(img, 'USR-B');
    const { json, exitCode, log } = await boot(img, 'verity', { allowReset: 2, timeoutS: 2 * BOOT_S, extraArgs: OS_QEMU });
    expect(exitCode, json.failure?.detail).toBe(0);
    expect(json.selector.choices.map((c) => [c.slot, c.triesBefore, c.triesAfter, c.attemptsBefore, c.attemptsAfter])).toEqual([
      ['B', 1, 0, 0, 1],
      ['A', 0, 0, 0, 1],
    ]);
    expect(json.resets).toMatchObject({ count: 1, watchdog: 0 });
    const first = log.slice(0, log.indexOf('imgbuild-select: slot=A'));
    expect(first).toMatch(/device-mapper: verity: [^\r\n]*data block 0 is corrupted/);
    expect(first).toMatch(/reboot: Restarting system/);
    expect(json).toMatchObject({ slot: 'A', usrhash: m.slots.A.rootHash, version: '1', health: 'ok', failure: null });
    // the healthy boot: the initrd's PID 1 had the watchdog open (it tries to stop it at switch-root;
    // nowayout keeps it running through the gap), the real PID 1 takes it over, it is active at the marker
    const second = log.slice(log.indexOf('imgbuild-select: slot=A'));
    const gap = second.search(/watchdog: watchdog0: nowayout prevents watchdog being stopped!/);
    expect(gap, 'the initrd armed it').toBeGreaterThan(0);
    const afterGap = second.slice(gap);
    expect(afterGap).toMatch(/watchdog: watchdog0: watchdog did not stop!/);
    // the real root's PID 1 starts after the gap and takes the watchdog over (the initrd's PID 1 prints
    // the same two lines at its own start when it logs to the console before its journal runs)
    const realRoot = afterGap.search(/systemd\[1\]: systemd 254[^\r\n]* running in system mode/);
    expect(realRoot).toBeGreaterThan(0);
    expect(afterGap.slice(realRoot)).toMatch(/systemd\[1\]: Using hardware watchdog 'i6300ESB timer'/);
    expect(json.details).toMatchObject({ watchdog: 'active,60s', bless: 'blessed', pid1: 'systemd' }); // back on top of B
    const st = await slotStatus(img);
    expect(st.B).toMatchObject({ tries: 0, successful: false, attempts: 1 });
    expect(st.A).toMatchObject({ priority: 2, successful: true, attempts: 0 });
    expect(st.next).toBe('A');
    const at = json.resets.events[0].atMs / 1000;
    console.log(`fault → healthy fallback (example OS, dm-verity restart): ${(json.durationMs / 1000).toFixed(1)} s (reset at ${at.toFixed(1)} s)`);
  });

  it('a new slot whose PID 1 crashes: systemd reboots (CrashReboot) instead of freezing, the selector falls back to A', async () => {
    const u = await imgbuild(['update', img, '--from', v3.usr], { env });
    expect(u.exitCode, String(u.stderr)).toBe(0);
    const { json, exitCode, log } = await boot(img, 'crash', { allowReset: 2, timeoutS: 2 * BOOT_S, extraArgs: OS_QEMU });
    expect(exitCode, json.failure?.detail).toBe(0);
    expect(json.selector.choices.map((c) => [c.slot, c.triesBefore, c.triesAfter])).toEqual([
      ['B', 1, 0],
      ['A', 0, 0],
    ]);
    expect(json.resets).toMatchObject({ count: 1, watchdog: 0 });
    const first = log.slice(0, log.indexOf('imgbuild-select: slot=A'));
    // the crashed PID 1 logs to its journal, not the console; the guest's own reset (not the watchdog's)
    // after the crash, without "Freezing execution", is CrashReboot's
    expect(first).toMatch(/imgbuild-test: crashing PID 1/);
    expect(first).not.toMatch(/Freezing execution/);
    expect(json.resets.events[0].cause).toBe('guest');
    expect(json).toMatchObject({ slot: 'A', version: '1', health: 'ok' });
    console.log(`fault → healthy fallback (example OS, PID 1 crash): ${(json.durationMs / 1000).toFixed(1)} s (reset at ${(json.resets.events[0].atMs / 1000).toFixed(1)} s)`);
  });
});
