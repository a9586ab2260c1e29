/**
 * Slot transitions on an image: read the GPT, run one pure transition, write the result with the GPT
 * writer's crash-safe order (backup array, backup header, primary array, primary header, synced after
 * each), so an interruption leaves exactly the old or exactly the new slot state. Nothing is written
 * when the transition changes nothing.
 *
 * The target is a path to a raw image or any Storage (a qcow2 or bundle adapter, a fault-injecting
 * wrapper in tests). A path is locked (lock.ts) for the read-change-write; a Storage is the caller's
 * to lock.
 */
import { aboutFile, CorruptError, fsError, UsageError } from '../errors.js';
import { readGpt, writeGpt, type GptReadResult, type GptSource } from '../gpt/io.js';
import { sameTable, type GptTable } from '../gpt/table.js';
import { withImageLock } from '../lock.js';
import { FileStorage, type Storage } from '../storage.js';
import { SUPERBLOCK_SIZE } from '../verity/geometry.js';
import { slotHashOffset } from '../verity/slot-area.js';
import { decodeVeritySuperblock } from '../verity/superblock.js';
import { findSlots, slotBytes, slotStatus, type Slot, type SlotContent, type SlotContents, type SlotStatus } from './state.js';

/**
 * An image to read or change slots on: a path to a raw image (locked while it is changed), or any
 * {@link Storage} (a block device, an image in memory), which the caller locks.
 *
 * @example
 * ```ts
 * await readSlotStatus('disk.raw');
 * await readSlotStatus(await FileStorage.open('/dev/sdb'));
 * ```
 */
export type SlotTarget = string | Storage;

/**
 * Options of {@link readSlotStatus} and {@link applySlotTransition}.
 *
 * @example
 * ```ts
 * const manifest = await readManifest('disk.raw.manifest.json');
 * await applySlotTransition('disk.raw', (t) => upgrade(t, 'B'), { dryRun: true, manifest: { path: 'disk.raw.manifest.json', slots: manifest.slots } });
 * ```
 */
export interface SlotImageOptions {
  /** Name used in error messages when the target is a Storage (a path names itself). */
  file?: string;
  /** Run the transition and report, but write nothing. */
  dryRun?: boolean;
  /**
   * The image's manifest, when there is one beside it: a slot without a root hash in it counts as
   * empty too (a slot's leftover superblock from an older build is no proof of a /usr).
   */
  manifest?: { path: string; slots: Partial<Record<Slot, { rootHash?: string } | undefined | null>> };
}

/**
 * What the transition function gets besides the table: facts read from the disk.
 *
 * @example
 * ```ts
 * await applySlotTransition('disk.raw', (table, facts) => {
 *   console.log(facts.contents.B?.filled, facts.read.source); // false 'primary' on a fresh image
 *   return table;
 * });
 * ```
 */
export interface SlotDiskFacts {
  /** What each slot holds (for the guards of prioritize, markSuccessful, setSlotBits). */
  contents: SlotContents;
  read: GptReadResult;
}

/**
 * What a transition function may return: the new table, or a result object carrying it (like `next`).
 *
 * @example
 * ```ts
 * await applySlotTransition('disk.raw', (t) => upgrade(t, 'B')); // a table
 * await applySlotTransition('disk.raw', (t) => next(t)); // a NextResult, which carries one
 * ```
 */
export type TransitionOutput = GptTable | { table: GptTable };

/**
 * What {@link applySlotTransition} did: the slot state before and after, and whether it wrote.
 *
 * @example
 * ```ts
 * const r = await applySlotTransition('disk.raw', (t) => upgrade(t, 'B'), { dryRun: true });
 * console.log(r.before.next, r.after.next, r.changed, r.written); // A B true false
 * ```
 */
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

/**
 * The same error with the file named, for the CLI's one-line `<file>: <problem>`; a system error
 * (ENOENT, EACCES, EIO...) as an InputError in words.
 */
function named(e: unknown, file: string | undefined): unknown {
  if (file) return aboutFile(e, file);
  return fsError(e, undefined);
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
    throw named(e, file);
  }
}

/**
 * Whether each slot holds a /usr: a valid verity superblock at its hash offset (slotHashOffset of the
 * partition size, where the builder and the updater put it) and, when a manifest is given, a root hash
 * for it there. Reads one sector per slot.
 */
export async function readSlotContents(s: Storage, table: GptTable, manifest?: SlotImageOptions['manifest']): Promise<SlotContents> {
  const out: SlotContents = {};
  for (const info of findSlots(table)) {
    const { offsetBytes: start, sizeBytes: bytes } = slotBytes(table, info.slot);
    let content: SlotContent;
    let off: number | undefined;
    try {
      off = slotHashOffset(bytes);
      if (start + off + SUPERBLOCK_SIZE > s.size) throw new CorruptError('past the end of the image');
      decodeVeritySuperblock(await s.readAt(start + off, SUPERBLOCK_SIZE));
      content = { filled: true };
    } catch (err) {
      // Bad bytes or a partition too small for a tree (UsageError from the geometry) mean "empty";
      // an I/O failure is passed up.
      if (!(err instanceof CorruptError || err instanceof UsageError)) throw err;
      content = { filled: false, reason: off === undefined ? 'too small for a /usr and its hash tree' : `no verity superblock at its hash offset ${off}` };
    }
    if (content.filled && manifest && !manifest.slots[info.slot]?.rootHash) {
      content = { filled: false, reason: `no root hash for it in ${manifest.path}` };
    }
    out[info.slot] = content;
  }
  return out;
}

/**
 * Reads the slot status of an image without changing it.
 *
 * @example
 * ```ts
 * const { status } = await readSlotStatus('disk.raw');
 * for (const s of status.slots) console.log(s.slot, s.priority, s.tries, s.successful);
 * console.log('next:', status.next);
 * ```
 */
export async function readSlotStatus(target: SlotTarget, opts: SlotImageOptions = {}): Promise<{ status: SlotStatus; table: GptTable; read: GptReadResult }> {
  return withStorage(target, false, opts, async (s) => {
    const read = await readGpt(s);
    return { status: slotStatus(read.table), table: read.table, read };
  });
}

/**
 * readGpt, `fn`, writeGpt (only when something changed); returns the status before and after. `fn`
 * also gets what each slot holds, for the guards that refuse to make an empty slot boot.
 *
 * @example
 * ```ts
 * import { applySlotTransition, upgrade } from '@imgbuild/core';
 *
 * const r = await applySlotTransition('disk.raw', (table, facts) => upgrade(table, 'B', { contents: facts.contents }));
 * console.log(r.written, r.after.next); // true 'B'
 * ```
 */
export async function applySlotTransition<R extends TransitionOutput>(
  target: SlotTarget,
  fn: (table: GptTable, facts: SlotDiskFacts) => R,
  opts: SlotImageOptions = {},
): Promise<SlotTransitionResult<R>> {
  const locked = typeof target === 'string' && !opts.dryRun ? (f: () => Promise<SlotTransitionResult<R>>) => withImageLock(target, f) : (f: () => Promise<SlotTransitionResult<R>>) => f();
  return locked(() => withStorage(target, !opts.dryRun, opts, async (s) => {
    const read = await readGpt(s);
    const before = slotStatus(read.table);
    const contents = await readSlotContents(s, read.table, opts.manifest);
    const result = fn(read.table, { contents, read });
    const table = tableOf(result);
    const changed = !sameTable(read.table, table);
    const written = changed && !opts.dryRun;
    if (written) await writeGpt(s, table, { protectiveMbr: !!read.mbrError });
    return { before, after: slotStatus(table), table, changed, written, result, source: read.source };
  }));
}
