/**
 * A partition in imgbuild's one JSON vocabulary: `number, uuid, label, type, firstLba, lastLba,
 * attributes` (+ `role` where known). `layout show`, `gpt show`, the `slot` verbs, the manifest's
 * `partitions` and `verify` all speak it, so a pipeline reads every command's partitions one way.
 * Commands may add keys of their own next to these (a slot's boot bits, a plan's byte offset), never
 * rename them.
 */
import type { GptReadResult, GptSource } from './io.js';
import type { Partition } from './table.js';

/**
 * A partition in the common JSON vocabulary every output and the manifest use.
 *
 * @example
 * ```ts
 * const rec: PartitionRecord = partitionRecord(partitions(table)[0], 'esp');
 * console.log(rec.label, rec.attributes); // 'EFI-SYSTEM' '0x0000000000000004'
 * ```
 */
export interface PartitionRecord {
  number: number;
  /** null in a layout that leaves the GUID to the seed. */
  uuid: string | null;
  label: string;
  type: string;
  firstLba: number;
  /** Inclusive, as on disk. */
  lastLba: number;
  /** The 64 attribute bits as `0x` + 16 hex digits (JSON numbers lose bits above 2^53). */
  attributes: string;
  /** What the partition is for (esp, usr-slot, root, ...), null when the table alone cannot tell. */
  role: string | null;
}

/** The attribute bits as written in every JSON output and the manifest. */
export function attributesHex(a: bigint): string {
  return '0x' + BigInt.asUintN(64, a).toString(16).padStart(16, '0');
}

/**
 * A partition as read from a GPT, in the common vocabulary.
 *
 * @example
 * ```ts
 * const { table } = await readGpt(await FileStorage.open('disk.raw'));
 * console.log(JSON.stringify(partitions(table).map((p) => partitionRecord(p, roleInTable(p)))));
 * ```
 */
export function partitionRecord(p: Partition, role: string | null = null): PartitionRecord & { uuid: string } {
  return {
    number: p.number,
    uuid: p.uuid,
    label: p.name,
    type: p.type,
    firstLba: p.firstLba,
    lastLba: p.lastLba,
    attributes: attributesHex(p.attributes),
    role,
  };
}

/**
 * What reading a GPT found, in the one shape `gpt show`, `gpt repair` and `slot status` print under
 * `gpt`: the copy read, whether `gpt repair` has work, each copy's and the protective MBR's problem
 * (null when none), and every problem in words (what a repair fixes).
 *
 * @example
 * ```ts
 * const rec: GptReadRecord = gptReadRecord(await readGpt(storage));
 * if (rec.needsRepair) console.log(rec.problems.join('\n'));
 * ```
 */
export interface GptReadRecord {
  source: GptSource;
  needsRepair: boolean;
  copiesDiffer: boolean;
  primaryError: string | null;
  backupError: string | null;
  mbrError: string | null;
  problems: string[];
}

/** Every problem a read found, in words: what `repairGpt` rewrites. */
export function gptProblems(read: Omit<GptReadResult, 'table'>): string[] {
  return [read.primaryError, read.backupError, read.mbrError, read.copiesDiffer ? 'the primary and backup copies differ' : undefined].filter(
    (x): x is string => !!x,
  );
}

/**
 * What a GPT read found, in the JSON vocabulary (`imgbuild gpt show --json`'s `gpt`).
 *
 * @example
 * ```ts
 * gptReadRecord(await readGpt(storage)).problems; // [] on a healthy disk
 * ```
 */
export function gptReadRecord(read: Omit<GptReadResult, 'table'>): GptReadRecord {
  return {
    source: read.source,
    needsRepair: read.needsRepair,
    copiesDiffer: read.copiesDiffer,
    primaryError: read.primaryError ?? null,
    backupError: read.backupError ?? null,
    mbrError: read.mbrError ?? null,
    problems: gptProblems(read),
  };
}
