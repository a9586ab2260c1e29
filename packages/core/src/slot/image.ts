/**
 * Slot transitions on an image: read the GPT, run one pure transition, write the result with the GPT
 * writer's crash-safe order (backup array, backup header, primary array, primary header, synced after
 * each), so an interruption leaves exactly the old or exactly the new slot state. Nothing is written
 * when the transition changes nothing.
 *
 * The target is a path to a raw image or any Storage (a qcow2 or bundle adapter, a fault-injecting
 * wrapper in tests).
 */
import { ImgbuildError } from '../errors.js';
import { readGpt, writeGpt, type GptReadResult, type GptSource } from '../gpt/io.js';
import { sameTable, type GptTable } from '../gpt/table.js';
import { FileStorage, type Storage } from '../storage.js';
import { slotStatus, type SlotStatus } from './state.js';

export type SlotTarget = string | Storage;

export interface SlotImageOptions {
  /** Name used in error messages when the target is a Storage (a path names itself). */
  file?: string;
  /** Run the transition and report, but write nothing. */
  dryRun?: boolean;
}

/** What a transition function may return: the new table, or a result object carrying it (like `next`). */
export type TransitionOutput = GptTable | { table: GptTable };

export interface SlotTransitionResult<R extends TransitionOutput> {
  before: SlotStatus;
  after: SlotStatus;
  /** The table after the transition. */
  table: GptTable;
  /** The transition changed the table. */
  changed: boolean;
  /** The new table was written (changed and not a dry run). */
  written: boolean;
  /** What the transition function returned. */
  result: R;
  /** Which GPT copy was read (a damaged primary is read from the backup and rewritten on change). */
  source: GptSource;
}

function tableOf(out: TransitionOutput): GptTable {
  return 'entries' in out ? out : out.table;
}

/** The same error with the file named, for the CLI's one-line `<file>: <problem>`. */
function withFile(e: unknown, file: string | undefined): unknown {
  if (!file || !(e instanceof ImgbuildError) || e.file) return e;
  const Ctor = e.constructor as new (message: string, options?: { file?: string; cause?: unknown }) => ImgbuildError;
  return new Ctor(e.message, { file, cause: e.cause });
}

async function withStorage<T>(target: SlotTarget, writable: boolean, opts: SlotImageOptions, fn: (s: Storage) => Promise<T>): Promise<T> {
  const file = typeof target === 'string' ? target : opts.file;
  try {
    if (typeof target !== 'string') return await fn(target);
    const s = await FileStorage.open(target, writable);
    try {
      return await fn(s);
    } finally {
      await s.close();
    }
  } catch (e) {
    throw withFile(e, file);
  }
}

/** Reads the slot status of an image without changing it. */
export async function readSlotStatus(target: SlotTarget, opts: SlotImageOptions = {}): Promise<{ status: SlotStatus; table: GptTable; read: GptReadResult }> {
  return withStorage(target, false, opts, async (s) => {
    const read = await readGpt(s);
    return { status: slotStatus(read.table), table: read.table, read };
  });
}

/** readGpt, `fn`, writeGpt (only when something changed); returns the status before and after. */
export async function applySlotTransition<R extends TransitionOutput>(
  target: SlotTarget,
  fn: (table: GptTable) => R,
  opts: SlotImageOptions = {},
): Promise<SlotTransitionResult<R>> {
  return withStorage(target, !opts.dryRun, opts, async (s) => {
    const read = await readGpt(s);
    const before = slotStatus(read.table);
    const result = fn(read.table);
    const table = tableOf(result);
    const changed = !sameTable(read.table, table);
    const written = changed && !opts.dryRun;
    if (written) await writeGpt(s, table, { protectiveMbr: !!read.mbrError });
    return { before, after: slotStatus(table), table, changed, written, result, source: read.source };
  });
}
