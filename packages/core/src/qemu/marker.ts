/**
 * The one line the test initramfs (hack/initramfs/init) prints on the serial console before it powers
 * off, and its pure parser:
 *
 *   IMGBUILD-BOOT slot=<A|B> usrhash=<hex> version=<VERSION_ID or empty> health=<ok|none|fail>
 *   IMGBUILD-BOOT-FAIL reason=<short-reason> detail=<free text to the end of the line>
 */
import type { Slot } from '../layout/plan.js';

export type BootHealth = 'ok' | 'none' | 'fail';

export interface BootMarker {
  slot: Slot;
  usrhash: string;
  version: string;
  health: BootHealth;
}

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

const MARKER = /IMGBUILD-BOOT slot=(A|B) usrhash=([0-9a-fA-F]*) version=(\S*) health=(ok|none|fail)(?=\s|$)/g;
const FAILURE = /IMGBUILD-BOOT-FAIL reason=(\S+) detail=([^\r\n]*)/g;

/** Finds the last marker and the last failure line in a serial log. Each boot prints one of them. */
export function parseBootMarker(log: string): ParsedBoot {
  let marker: BootMarker | null = null;
  for (const m of log.matchAll(MARKER)) {
    marker = { slot: m[1] as Slot, usrhash: m[2].toLowerCase(), version: m[3], health: m[4] as BootHealth };
  }
  let failure: BootFailure | null = null;
  for (const m of log.matchAll(FAILURE)) failure = { reason: m[1], detail: m[2].trim() };
  return { marker, failure };
}

/** The marker as /init prints it. */
export function formatBootMarker(m: BootMarker): string {
  return `IMGBUILD-BOOT slot=${m.slot} usrhash=${m.usrhash} version=${m.version} health=${m.health}`;
}

export function formatBootFailure(f: BootFailure): string {
  return `IMGBUILD-BOOT-FAIL reason=${f.reason} detail=${f.detail}`;
}
