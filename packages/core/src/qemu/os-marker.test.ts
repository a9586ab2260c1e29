import { describe, expect, it } from 'vitest';
import { formatBootMarker, parseBootMarker } from './marker.js';
import { stuckOnVerity } from './stuck.js';

const OS_LINE =
  'IMGBUILD-BOOT slot=B usrhash=' + 'c'.repeat(64) + ' version=2 health=ok pid1=systemd usr=verity-ro root=rw,PARTUUID=3884dd41-8582-4404-b9a8-e9b84f2df50e bless=blessed target=multi-user boots=3 sysext=hello,tools';

describe("the example OS's marker (os/files/usr/lib/imgbuild/marker)", () => {
  it('parses the fields after health= into details', () => {
    const { marker } = parseBootMarker(`[  61.2] systemd[1]: Starting imgbuild-marker.service\r\n${OS_LINE}\r\n[  61.9] reboot: Power down\r\n`);
    expect(marker).toMatchObject({ slot: 'B', version: '2', health: 'ok' });
    expect(marker!.details).toEqual({ pid1: 'systemd', usr: 'verity-ro', root: 'rw,PARTUUID=3884dd41-8582-4404-b9a8-e9b84f2df50e', bless: 'blessed', target: 'multi-user', boots: '3', sysext: 'hello,tools' });
    expect(formatBootMarker(marker!)).toBe(OS_LINE);
  });

  it("keeps the test initramfs's line as it was (no details)", () => {
    const { marker } = parseBootMarker('IMGBUILD-BOOT slot=A usrhash=ab version=1 health=none\n');
    expect(marker).toEqual({ slot: 'A', usrhash: 'ab', version: '1', health: 'none' });
  });
});

describe('a boot stuck on a dm-verity error', () => {
  const verity = '[   20.1] device-mapper: verity: 254:0: data block 0 is corrupted\n';
  it('is recognised once the boot stopped on it', () => {
    expect(stuckOnVerity(verity)).toBeNull(); // the error alone: the system may still go on
    expect(stuckOnVerity(`${verity}[   21.0] systemd[1]: Failed to mount sysroot-usr.mount - /sysroot/usr.\n`)).toMatchObject({ reason: 'verity' });
    expect(stuckOnVerity(`${verity}Failed to execute /sbin/init: Input/output error\nFreezing execution.\n`)!.detail).toMatch(/data block 0 is corrupted; then: Failed to execute/);
    // a corrupted first block: udev cannot probe /dev/mapper/usr and systemd waits for it
    expect(stuckOnVerity(`${verity}[\x1b[0;31m*  \x1b[0m] Job dev-mapper-usr.device/start running (21s / 1min 30s)\n`)).toMatchObject({ reason: 'verity' });
  });
  it('is not claimed for a stop that came before the error', () => {
    expect(stuckOnVerity(`You are in emergency mode\n${verity}`)).toBeNull();
  });
});

describe('qemu for the example OS', () => {
  it('passes -smp only when more than one CPU is asked for', async () => {
    const { qemuArgs } = await import('./run.js');
    const base = { image: '/i.raw', format: 'raw', ovmfCode: '/c.fd', varsCopy: '/v.fd', serialLog: '/s.log', memoryMiB: 2048, accel: 'tcg' };
    expect(qemuArgs({ ...base, smp: 2 }).join(' ')).toContain('-m 2048 -smp 2 ');
    expect(qemuArgs({ ...base, smp: 1 })).not.toContain('-smp');
    expect(qemuArgs(base)).not.toContain('-smp');
  });
});
