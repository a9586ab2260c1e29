/**
 * The one line the test initramfs (hack/initramfs/init) prints on the serial console before it powers
 * off, and its pure parser:
 *
 *   IMGBUILD-BOOT slot=<A|B> usrhash=<hex> version=<VERSION_ID or empty> health=<ok|none|fail> [key=value …]
 *   IMGBUILD-BOOT-FAIL reason=<short-reason> detail=<free text to the end of the line>
 *
 * The example OS's marker unit (os/files/usr/lib/imgbuild/marker) prints the same line with more
 * fields after health: pid1=, usr=, root=, bless=, target=, boots=, sysext= (the system extensions merged
 * into /usr, or none), watchdog= (the hardware watchdog's state and timeout, or none); they land in `details`.
 */
import type { Slot } from '../layout/plan.js';

/**
 * What the boot marker says of the booted system: healthy (`ok`), not judged (`none`), or failed.
 *
 * @example
 * ```ts
 * if (run.marker?.health === 'ok') console.log('booted and healthy');
 * ```
 */
export type BootHealth = 'ok' | 'none' | 'fail';

/**
 * The line the booted system prints when it is up: the slot, the /usr root hash, the version, its health.
 *
 * @example
 * ```ts
 * const r = await runQemu({ image: 'disk.raw' });
 * if (r.marker) console.log(formatBootMarker(r.marker)); // IMGBUILD-BOOT slot=A usrhash=… version=1.0.0 health=ok
 * ```
 */
export interface BootMarker {
  slot: Slot;
  usrhash: string;
  version: string;
  health: BootHealth;
  /** key=value fields after health= (the OS marker's pid1, usr, root, bless, target, boots, sysext); absent when none. */
  details?: Record<string, string>;
}

/**
 * Why a boot did not reach the marker: the initramfs's failure line, or the harness's `timeout`/`no-marker`.
 *
 * @example
 * ```ts
 * const r = await runQemu({ image: 'disk.raw' });
 * if (r.failure) console.error(formatBootFailure(r.failure));
 * ```
 */
export interface BootFailure {
  /** no-bootable-slot, no-hash, verity-open, mount, read-error, ... as printed by /init; `timeout` or
   * `no-marker` when the harness saw neither line. */
  reason: string;
  detail: string;
}

export interface ParsedBoot {
  marker: BootMarker | null;
  failure: BootFailure | null;
}

const MARKER = /IMGBUILD-BOOT slot=(A|B) usrhash=([0-9a-fA-F]*) version=(\S*) health=(ok|none|fail)(?=\s|$)([^\r\n]*)/g;
const FAILURE = /IMGBUILD-BOOT-FAIL reason=(\S+) detail=([^\r\n]*)/g;

/** Finds the last marker and the last failure line in a serial log. Each boot prints one of them. */
export function parseBootMarker(log: string): ParsedBoot {
  let marker: BootMarker | null = null;
  for (const m of log.matchAll(MARKER)) {
    marker = { slot: m[1] as Slot, usrhash: m[2].toLowerCase(), version: m[3], health: m[4] as BootHealth };
    const details = Object.fromEntries(
      m[5]
        .trim()
        .split(/\s+/)
        .filter((w) => /^[a-z][a-z0-9_]*=/.test(w))
        .map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]),
    );
    if (Object.keys(details).length) marker.details = details;
  }
  let failure: BootFailure | null = null;
  for (const m of log.matchAll(FAILURE)) failure = { reason: m[1], detail: m[2].trim() };
  return { marker, failure };
}

/**
 * The marker as /init prints it.
 *
 * @example
 * ```ts
 * formatBootMarker({ slot: 'A', usrhash: 'ab…', version: '1.0.0', health: 'ok' }); // 'IMGBUILD-BOOT slot=A usrhash=ab… version=1.0.0 health=ok'
 * ```
 */
export function formatBootMarker(m: BootMarker): string {
  const details = Object.entries(m.details ?? {}).map(([k, v]) => ` ${k}=${v}`).join('');
  return `IMGBUILD-BOOT slot=${m.slot} usrhash=${m.usrhash} version=${m.version} health=${m.health}${details}`;
}

/**
 * The failure as the initramfs prints it.
 *
 * @example
 * ```ts
 * formatBootFailure({ reason: 'verity-open', detail: 'root hash mismatch' }); // 'IMGBUILD-BOOT-FAIL reason=verity-open detail=root hash mismatch'
 * ```
 */
export function formatBootFailure(f: BootFailure): string {
  return `IMGBUILD-BOOT-FAIL reason=${f.reason} detail=${f.detail}`;
}
