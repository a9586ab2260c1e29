/**
 * `@imgbuild/core/gpt`: the GUID partition table below the images, for programs that read or write
 * partition tables themselves. Pure codecs (header, entries, protective MBR, attribute bits) and the
 * crash-safe reader, writer and repairer on any {@link Storage}. Loads no zod, no image builder.
 *
 * @example
 * ```ts
 * import { FileStorage } from '@imgbuild/core';
 * import { getBootBits, partitions, readGpt, typeName } from '@imgbuild/core/gpt';
 *
 * const { table, source } = await readGpt(await FileStorage.open('disk.raw'));
 * for (const p of partitions(table)) console.log(p.number, p.name, typeName(p.type) ?? p.type, getBootBits(p.attributes));
 * console.log(`read from the ${source} copy`);
 * ```
 *
 * @module gpt
 */
export { readGpt, writeGpt, repairGpt, type GptReadResult, type GptSource, type RepairResult, type WriteGptOptions } from '../gpt/io.js';
export {
  emptyTable,
  encodeTable,
  partitions,
  regions,
  validateTable,
  type EncodedTable,
  type GptTable,
  type Partition,
  type TableRegions,
} from '../gpt/table.js';
export { encodeEntry, decodeEntry, type GptEntry } from '../gpt/entry.js';
export { crc32, encodeHeader, decodeHeader, type GptHeader } from '../gpt/header.js';
export { encodeProtectiveMbr, decodeProtectiveMbr, type ProtectiveMbr } from '../gpt/mbr.js';
export { canBoot, describeAttributes, getBootBits, getFlag, setBootBits, setFlag, type BootBits, type FlagName } from '../gpt/attributes.js';
export { gptReadRecord, partitionRecord, type GptReadRecord, type PartitionRecord } from '../gpt/record.js';
export { resolveType, typeName, TYPE_ALIASES } from '../gpt/types.js';
export { ZERO_GUID } from '../guid.js';
export { FileStorage, MemoryStorage, SubStorage, type Storage } from '../storage.js';
