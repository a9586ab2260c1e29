import { describe, expect, it } from 'vitest';
import { qemuArgs } from './run.js';
import { lastBootLog, resetBound, resetOf } from './watchdog.js';

describe('reset accounting from qemu events', () => {
  it('a RESET after a WATCHDOG event is the watchdog; alone it is the guest; -no-reboot makes it a SHUTDOWN', () => {
    expect(resetOf({ event: 'RESET', data: { guest: true, reason: 'guest-reset' } }, true)).toBe('watchdog');
    expect(resetOf({ event: 'RESET', data: { guest: true, reason: 'guest-reset' } }, false)).toBe('guest');
    expect(resetOf({ event: 'SHUTDOWN', data: { guest: true, reason: 'guest-reset' } }, false)).toBe('guest');
    expect(resetOf({ event: 'SHUTDOWN', data: { guest: true, reason: 'guest-shutdown' } }, false)).toBeNull();
    expect(resetOf({ event: 'RESET', data: { guest: false, reason: 'host-qmp-system-reset' } }, false)).toBeNull();
    expect(resetOf({ event: 'WATCHDOG', data: { action: 'reset' } }, true)).toBeNull();
  });

  it('the last boot starts after the last reset that did not end the run', () => {
    const log = 'boot 1\nboot 2\nboot 3 marker\n';
    const resets = [
      { atMs: 1, cause: 'guest' as const, logOffset: 7, endedRun: false },
      { atMs: 2, cause: 'watchdog' as const, logOffset: 14, endedRun: false },
    ];
    expect(lastBootLog(log, resets)).toBe('boot 3 marker\n');
    expect(lastBootLog(log, [...resets, { atMs: 3, cause: 'guest', logOffset: log.length, endedRun: true }])).toBe('boot 3 marker\n');
    expect(lastBootLog(log, [])).toBe(log);
  });

  it('--allow-reset: true is unbounded, a number bounds, absent is none', () => {
    expect(resetBound(true)).toBe(Infinity);
    expect(resetBound(2)).toBe(2);
    expect(resetBound(0)).toBe(0);
    expect(resetBound(undefined)).toBeNull();
    expect(resetBound(false)).toBeNull();
  });
});

describe('the watchdog device', () => {
  const base = { image: 'd.raw', format: 'raw', ovmfCode: 'c.fd', varsCopy: 'v.fd', serialLog: 's.log', memoryMiB: 512, accel: 'tcg' };
  it('is on the machine when asked (runQemu asks by default) and absent otherwise', () => {
    const on = qemuArgs({ ...base, watchdog: true }).join(' ');
    expect(on).toContain('-device i6300esb -action watchdog=reset');
    expect(qemuArgs({ ...base, watchdog: false }).join(' ')).not.toContain('i6300esb');
  });
});
