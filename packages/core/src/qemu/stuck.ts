/**
 * A boot that will never end by itself. A systemd initrd that hits a dm-verity error does not reset:
 * it logs the corrupted block, fails to mount or to execute init, and then freezes ("Freezing
 * execution.") or sits in emergency mode; without a watchdog only the harness's timeout would end it.
 * A corrupted first block of /usr fails udev's probe of /dev/mapper/usr, and systemd waits 90 s for a
 * device that will not come ("Job dev-mapper-usr.device/start running"): that counts as stuck too.
 * The harness stops qemu as soon as the console shows both, and reports `reason=verity`.
 * (The test initramfs prints its own IMGBUILD-BOOT-FAIL line and powers off; it never prints these.)
 */
import type { BootFailure } from './marker.js';

const VERITY = /device-mapper: verity: [^\r\n]*(?:data|metadata) block \d+ is corrupted/;
const STUCK = /Job dev-mapper-usr\.device\/start running|Freezing execution\.|You are in emergency mode|Entering emergency mode|Failed to execute \/sbin\/init|Dependency failed for [^\r\n]*(?:\/usr|\/sysroot|usr\.mount|sysroot\.mount)|Failed to mount [^\r\n]*(?:\/usr|\/sysroot)/;

/** `{reason: 'verity', detail}` when the log shows a dm-verity corruption and a boot that stopped on it. */
export function stuckOnVerity(log: string): BootFailure | null {
  const v = VERITY.exec(log);
  if (!v) return null;
  const s = STUCK.exec(log.slice(v.index));
  if (!s) return null;
  return { reason: 'verity', detail: `${v[0].trim()}; then: ${s[0].trim()}` };
}

/**
 * A boot that dm-verity restarted: `restart-on-corruption` (the command line imgbuild writes) makes
 * the kernel restart at the first corrupted block instead of returning I/O errors. Without
 * `allowReset` the restart ends the run; this names it.
 */
export function restartedOnVerity(log: string): BootFailure | null {
  const v = VERITY.exec(log);
  if (!v || !/reboot: Restarting system/.test(log.slice(v.index))) return null;
  return { reason: 'verity', detail: `${v[0].trim()}; then: the kernel restarted the machine (restart-on-corruption)` };
}
