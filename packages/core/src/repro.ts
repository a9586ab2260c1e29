/**
 * Reproducibility, in one place: which time an output is stamped with (SOURCE_DATE_EPOCH) and how
 * the tools that pack trees are told to leave out everything that varies between runs. The pipeline,
 * system extensions and anything that packs a tree take these from here, not from each other.
 */
import { promises as fsp } from 'node:fs';
import { execa } from './exec.js';
import { InputError, ToolError, UsageError } from './errors.js';

/** The first and the last second FAT can date (1980-01-01 00:00:00, 2107-12-31 23:59:58): an ESP's limits. */
export const FAT_FIRST_EPOCH = 315_532_800;
export const FAT_LAST_EPOCH = 4_354_819_198;

/** FAT cannot date anything before 1980; this is the timestamp used when SOURCE_DATE_EPOCH is unset. */
export const DEFAULT_SOURCE_DATE_EPOCH = FAT_FIRST_EPOCH;

/**
 * SOURCE_DATE_EPOCH from the environment, DEFAULT_SOURCE_DATE_EPOCH when unset. An image's ESP is FAT,
 * which dates nothing before 1980 or after 2107: a time outside that is refused, not moved (a silently
 * different time would be a silently different image). `fat: false` (a system extension, no FAT) takes any.
 */
export function sourceDateEpochFromEnv(opts: { fat?: boolean } = {}): number {
  const v = process.env.SOURCE_DATE_EPOCH;
  if (v === undefined || v === '') return DEFAULT_SOURCE_DATE_EPOCH;
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw new UsageError(`SOURCE_DATE_EPOCH must be a number of seconds, got ${JSON.stringify(v)}`);
  const sde = Number(v);
  if ((opts.fat ?? true) && (sde < DEFAULT_SOURCE_DATE_EPOCH || sde > FAT_LAST_EPOCH)) {
    throw new UsageError(
      `SOURCE_DATE_EPOCH=${v} is outside what the ESP's FAT can date (${DEFAULT_SOURCE_DATE_EPOCH}..${FAT_LAST_EPOCH}, 1980-01-01..2107-12-31); set it within, or unset it for 1980-01-01`,
    );
  }
  return sde;
}

/**
 * When an update ran, for the manifest's history: the clock, unless SOURCE_DATE_EPOCH is set (a
 * pipeline that sets it asks for the same manifest bytes from the same inputs). The entry says which.
 */
export function updateTime(): { at: number; clock: 'source-date-epoch' | 'wall' } {
  const set = (process.env.SOURCE_DATE_EPOCH ?? '') !== '';
  return set ? { at: sourceDateEpochFromEnv({ fat: false }), clock: 'source-date-epoch' } : { at: Math.floor(Date.now() / 1000), clock: 'wall' };
}

/**
 * Packs `dir` (the contents of /usr) with mksquashfs: all files owned by root, every timestamp set to
 * SOURCE_DATE_EPOCH, so the same tree gives the same bytes.
 */
export async function mksquashfsReproducible(dir: string, out: string, sourceDateEpoch: number): Promise<void> {
  const st = await fsp.stat(dir).catch(() => undefined);
  if (!st?.isDirectory()) throw new InputError('not a directory', { file: dir });
  // mksquashfs refuses SOURCE_DATE_EPOCH in its environment together with the explicit time options.
  const { SOURCE_DATE_EPOCH: _ignored, ...env } = process.env;
  const r = await execa('mksquashfs', [dir, out, '-noappend', '-all-root', '-no-progress', '-quiet', '-mkfs-time', String(sourceDateEpoch), '-all-time', String(sourceDateEpoch), '-no-xattrs'], {
    reject: false,
    env,
    extendEnv: false,
  });
  if (r.exitCode !== 0) throw new ToolError(`mksquashfs failed: ${String(r.stderr).trim().split('\n').pop()}`, { file: dir });
}
