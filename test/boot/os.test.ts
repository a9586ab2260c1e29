/**
 * The example OS (os/debian: Debian 12, systemd 254 from bookworm-backports, Debian's dracut initrd)
 * booted from an imgbuild image under qemu (TCG, 2 CPUs, 2 GiB): the selector, the slot's UKI,
 * systemd's own veritysetup of /usr from the slot, the writable ext4 ROOT from `build --root-tree`,
 * and the OS's own blessing (os/files). Five boots on one image, in order:
 *
 *   1. v1 boots A to multi-user: marker = manifest (slot, root hash, version), PID 1 systemd, /usr the
 *      dm-verity device read-only, / the writable ROOT; A already good, nothing written;
 *   2. update v2 → B boots with its one try, blesses itself; the boot count written to /var in boot 1
 *      is still there (ROOT persists); `slot status` on the host shows B good;
 *   3. update v3 whose health check fails → A boots v3, is not blessed;
 *   4. the next boot falls back to B (v2) by itself (the selector: A has no tries and is not good);
 *   5. one byte of B's /usr flipped → dm-verity error in the log, no healthy marker, and the kernel
 *      restarts the machine at once (restart-on-corruption; without --allow-reset that ends the run:
 *      reason=verity) rather than freezing until the timeout. heal-os.test.ts lets it fall back.
 *
 * A boot takes 60-110 s here (TCG); each has its own budget. The OS is built once and cached
 * (.cache/os); the first run of the recipe takes about 6 minutes more.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imgbuild, ROOT, tempDir } from '../helpers.js';
import { boot, durations, env, readManifest, slotStatus } from './boot.js';
import { corruptUsr, exampleOs, OS_QEMU, type OsBuild } from './os.js';

const dir = tempDir('imgbuild-os-');
const img = join(dir, 'os.raw');
/** One boot to multi-user measured 60-110 s (TCG, 2 CPUs); a boot that hangs is stopped here. */
const BOOT_S = 240;
let v1: OsBuild;
let v2: OsBuild;
let v3: OsBuild;

interface RootFs {
  partuuid: string;
}

beforeAll(async () => {
  v1 = await exampleOs('1');
  v2 = await exampleOs('2');
  v3 = await exampleOs('3', join(ROOT, 'test/boot/fixtures/os-unhealthy'));
  const r = await imgbuild(
    ['build', '--from', v1.usr, '--root-tree', v1.root, '--kernel', v1.kernel, '--initrd', v1.initrd, '--layout', 'flatcar', '--seed', 'os-test', '--cmdline', 'imgbuild.test=poweroff', '-o', img],
    { env },
  );
  expect(r.exitCode, String(r.stderr)).toBe(0);
}, 2_400_000);

afterAll(() => {
  if (durations.length) console.log(`example OS boot durations (s): ${durations.map((d) => (d / 1000).toFixed(1)).join(' ')}`);
});

const osBoot = (name: string, timeoutS = BOOT_S) => boot(img, name, { timeoutS, extraArgs: OS_QEMU });
const rootFs = () => (readManifest(img) as unknown as { rootFs: RootFs }).rootFs;

async function update(os: OsBuild) {
  const u = await imgbuild(['update', img, '--from', os.usr], { env });
  expect(u.exitCode, String(u.stderr)).toBe(0);
}

describe('the example OS', { timeout: (BOOT_S + 120) * 1000 }, () => {
  it('1. boots slot A to multi-user: systemd, /usr from dm-verity read-only, / the writable ROOT', async () => {
    const m = readManifest(img);
    const { json, exitCode, log } = await osBoot('1');
    expect(exitCode, json.failure?.detail).toBe(0);
    expect(json).toMatchObject({ slot: 'A', usrhash: m.slots.A.rootHash, version: '1', health: 'ok' });
    expect(json.details).toEqual({
      pid1: 'systemd',
      usr: 'verity-ro',
      root: `rw,PARTUUID=${rootFs().partuuid}`,
      bless: 'already-good',
      target: 'multi-user',
      boots: '1',
      sysext: 'none', // no system extension merged (test/boot/sysext.test.ts merges some)
      watchdog: 'active,30s', // systemd feeds qemu's i6300esb (heal-os.test.ts)
      refused: 'none', // no system extension refused (sysext.test.ts refuses a corrupted one)
    });
    expect(log).toMatch(/systemd 254\.\d+/); // the backports systemd, in the initrd and as PID 1
    expect(log).toMatch(/Finished .*systemd-veritysetup@usr/);
    const s = await slotStatus(img);
    expect(s.A).toMatchObject({ priority: 1, tries: 0, successful: true });
  });

  it('2. update v2: B boots with its one try, blesses itself, and sees what boot 1 wrote to /var', async () => {
    await update(v2);
    const m = readManifest(img);
    const { json, exitCode } = await osBoot('2');
    expect(exitCode, json.failure?.detail).toBe(0);
    expect(json.selector.choices).toEqual([expect.objectContaining({ slot: 'B', triesBefore: 1, triesAfter: 0, successful: false })]);
    expect(json).toMatchObject({ slot: 'B', usrhash: m.slots.B.rootHash, version: '2', health: 'ok' });
    expect(json.details).toMatchObject({ bless: 'blessed', boots: '2', pid1: 'systemd', usr: 'verity-ro' });
    const s = await slotStatus(img);
    expect(s.B).toMatchObject({ priority: 2, tries: 0, successful: true });
    expect(s.A).toMatchObject({ priority: 1, successful: true });
    expect(s.next).toBe('B');
  });

  it('3. update v3 whose health check fails: A boots v3 and is not blessed', async () => {
    await update(v3);
    const { json, exitCode, log } = await osBoot('3');
    expect(exitCode).toBe(1); // health=fail is not a healthy boot
    expect(json).toMatchObject({ slot: 'A', version: '3', health: 'fail' });
    expect(json.details).toMatchObject({ bless: 'no', boots: '3', target: 'multi-user' });
    expect(log).toMatch(/imgbuild-test: this version is unhealthy/);
    const s = await slotStatus(img);
    expect(s.A).toMatchObject({ tries: 0, successful: false });
    expect(s.next).toBe('B');
  });

  it('4. the next boot falls back to B (v2) by itself', async () => {
    const { json, exitCode } = await osBoot('4');
    expect(exitCode, json.failure?.detail).toBe(0);
    expect(json.selector.choices[0]).toMatchObject({ slot: 'B', successful: true });
    expect(json).toMatchObject({ slot: 'B', version: '2', health: 'ok' });
    // B was good but below A (which held the failed update): blessing puts it back on top
    expect(json.details).toMatchObject({ bless: 'blessed', boots: '4' });
    const s = await slotStatus(img);
    expect(s.B).toMatchObject({ priority: 2, tries: 0, successful: true });
    expect(s.A).toMatchObject({ priority: 1, tries: 0, successful: false });
  });

  it("5. one byte changed in the running slot's /usr: a dm-verity error restarts the machine (restart-on-corruption)", async () => {
    corruptUsr(img, 'USR-B');
    const { json, exitCode, log } = await osBoot('5', 180);
    expect(exitCode).toBe(1);
    expect(json.slot).toBeNull();
    expect(json.failure?.reason).toBe('verity');
    expect(log).toMatch(/device-mapper: verity: .*data block 0 is corrupted/);
    expect(json.failure?.detail).toMatch(/restarted the machine/);
    // not the 180 s timeout, nor systemd's 90 s wait for the device: the kernel restarted at the error
    expect(json.durationMs).toBeLessThan(90_000);
  });
});
