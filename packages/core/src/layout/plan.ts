/**
 * Turns a layout spec into exact sectors (a plan) and a plan into a GPT table. Pure: every check a
 * layout can fail is here, with an error naming the partition and the rule.
 */
import { checkSingleRoles } from './roles.js';
import { LayoutError } from '../errors.js';
import { deriveUuid, isGuid, normalizeGuid, uuidToBytes } from '../guid.js';
import { parseAttributes } from '../gpt/attributes.js';
import { arraySectors, DEFAULT_ENTRY_COUNT, emptyTable, ENTRY_SIZE, type GptTable } from '../gpt/table.js';
import { resolveType, typeName } from '../gpt/types.js';
import { parseLayoutSpec } from './schema.js';
import { ROLES, sizeToSectors, type LayoutSpec, type Role } from './spec.js';

/**
 * One of the two /usr slots.
 *
 * @example
 * ```ts
 * const s: Slot = (await readSlotStatus('disk.raw')).status.next ?? 'A';
 * ```
 */
export type Slot = 'A' | 'B';

/**
 * A partition of a {@link LayoutPlan}: its place on the disk in sectors and bytes, its role and slot.
 *
 * @example
 * ```ts
 * const usrA = (await loadLayout('mini')).partitions.find((p) => p.slot === 'A')!;
 * console.log(usrA.label, usrA.offsetBytes, usrA.sizeBytes);
 * ```
 */
export interface PlannedPartition {
  number: number;
  label: string;
  type: string;
  typeAlias?: string;
  /** Fixed by the layout, or undefined (then derived from the seed when a table is made). */
  uuid?: string;
  role: Role;
  slot?: Slot;
  startLba: number;
  /** Inclusive. */
  endLba: number;
  sectors: number;
  sizeBytes: number;
  offsetBytes: number;
  attributes: bigint;
}

/**
 * A layout placed on a disk: its size, the GPT's geometry, every partition's exact range. What a build
 * lays out and `imgbuild layout show` prints.
 *
 * @example
 * ```ts
 * const plan: LayoutPlan = await loadLayout('mini');
 * console.log(plan.diskBytes, plan.partitions.length);
 * ```
 */
export interface LayoutPlan {
  name: string;
  description?: string;
  sectorSize: number;
  alignmentSectors: number;
  totalSectors: number;
  diskBytes: number;
  diskGuid?: string;
  entryCount: number;
  firstUsableLba: number;
  lastUsableLba: number;
  partitions: PlannedPartition[];
}

const alignUp = (n: number, a: number) => Math.ceil(n / a) * a;

function fail(where: string, msg: string): never {
  throw new LayoutError(`${where}: ${msg}`);
}

/** The slot a label names by its suffix (`USR-A`, `usr_b`): the one place this naming rule lives. */
export function slotOfLabel(label: string): Slot | undefined {
  const m = /[-_]([AB])$/i.exec(label);
  return m ? (m[1].toUpperCase() as Slot) : undefined;
}

/**
 * Places a layout's partitions on a disk (alignment, `rest`, fixed starts) and checks the result
 * (overlaps, one ESP, a slot pair of the same size). LayoutError names the problem.
 *
 * @example
 * ```ts
 * const plan = planLayout({ name: 'tiny', diskSize: 'auto', partitions: [
 *   { number: 1, label: 'EFI-SYSTEM', type: 'esp', size: '64MiB' },
 *   { number: 2, label: 'USR-A', type: 'usr-x86-64', size: '256MiB' },
 *   { number: 3, label: 'USR-B', type: 'usr-x86-64', size: '256MiB' },
 * ] });
 * ```
 */
export function planLayout(input: LayoutSpec, source = input?.name ?? 'layout'): LayoutPlan {
  // Every spec, built-in, from a file or built in code, is checked against the schema first.
  const spec = parseLayoutSpec(input, source);
  const sectorSize = spec.sectorSize ?? 512;
  if (sectorSize !== 512 && sectorSize !== 4096) fail(source, `sectorSize must be 512 or 4096, got ${sectorSize}`);
  const alignmentSectors = spec.alignment === undefined ? (2 * 1024 * 1024) / sectorSize : sizeToSectors(spec.alignment, sectorSize, `${source}: alignment`);
  if (alignmentSectors === 'rest' || alignmentSectors < 1) fail(source, 'alignment must be a positive size');
  const entryCount = spec.entryCount ?? DEFAULT_ENTRY_COUNT;
  if (!Number.isInteger(entryCount) || entryCount < 4 || entryCount > 1024) fail(source, `entryCount must be 4-1024, got ${entryCount}`);
  const gptSectors = arraySectors(entryCount, ENTRY_SIZE, sectorSize);
  const firstUsableLba = 2 + gptSectors;

  let fixedTotal: number | undefined;
  if (spec.diskSize !== undefined && spec.diskSize !== 'auto') {
    const s = sizeToSectors(spec.diskSize, sectorSize, `${source}: diskSize`);
    if (s === 'rest') fail(source, 'diskSize cannot be "rest"');
    fixedTotal = s;
  }
  const diskGuid = spec.diskGuid === undefined ? undefined : isGuid(spec.diskGuid) ? normalizeGuid(spec.diskGuid) : fail(source, `diskGuid ${JSON.stringify(spec.diskGuid)} is not a GUID`);

  const seenNumbers = new Set<number>();
  const seenLabels = new Set<string>();
  const planned: PlannedPartition[] = [];
  let cursor = firstUsableLba;
  spec.partitions.forEach((p, i) => {
    const where = `${source}: partition ${p?.number ?? `#${i + 1}`}${p?.label ? ` (${p.label})` : ''}`;
    if (!Number.isInteger(p.number) || p.number < 1 || p.number > entryCount) fail(where, `number must be 1-${entryCount}`);
    if (seenNumbers.has(p.number)) fail(where, `duplicate partition number ${p.number}`);
    seenNumbers.add(p.number);
    if (typeof p.label !== 'string' || p.label.length === 0) fail(where, 'needs a label');
    if (Buffer.byteLength(p.label, 'utf16le') > 72) fail(where, 'label is longer than 36 UTF-16 code units');
    if (seenLabels.has(p.label)) fail(where, `duplicate label ${p.label}`);
    seenLabels.add(p.label);
    const type = typeof p.type === 'string' ? resolveType(p.type) : undefined;
    if (!type) fail(where, `unknown partition type ${JSON.stringify(p.type)} (use a GUID or an alias such as efi, flatcar-usr, usr-x86-64)`);
    const role: Role = p.role ?? 'data';
    if (!ROLES.includes(role)) fail(where, `unknown role ${JSON.stringify(p.role)} (one of ${ROLES.join(', ')})`);
    if (p.uuid !== undefined && !isGuid(p.uuid)) fail(where, `uuid ${JSON.stringify(p.uuid)} is not a GUID`);
    let attributes: bigint;
    try {
      attributes = parseAttributes(p.attributes);
    } catch (e) {
      fail(where, (e as Error).message);
    }
    const size = sizeToSectors(p.size, sectorSize, where);
    const start = p.start ?? alignUp(cursor, alignmentSectors);
    if (!Number.isSafeInteger(start) || start < firstUsableLba) fail(where, `starts at sector ${start}, before the first usable sector ${firstUsableLba}`);
    if (start % alignmentSectors !== 0) fail(where, `start sector ${start} is not aligned to ${alignmentSectors} sectors`);
    let sectors: number;
    if (size === 'rest') {
      if (i !== spec.partitions.length - 1) fail(where, 'only the last partition may take the "rest" of the disk');
      if (fixedTotal === undefined) fail(where, 'size "rest" needs a fixed diskSize');
      sectors = fixedTotal - 2 - gptSectors - start + 1;
      sectors -= sectors % alignmentSectors;
      if (sectors <= 0) fail(where, 'no room left for it');
    } else sectors = size;
    if (planned.some((q) => start <= q.endLba && start + sectors - 1 >= q.startLba)) {
      const q = planned.find((q) => start <= q.endLba && start + sectors - 1 >= q.startLba)!;
      fail(where, `overlaps partition ${q.number} (${q.label}, sectors ${q.startLba}-${q.endLba})`);
    }
    planned.push({
      number: p.number,
      label: p.label,
      type,
      typeAlias: typeName(type),
      uuid: p.uuid ? normalizeGuid(p.uuid) : undefined,
      role,
      slot: role === 'usr-slot' ? slotOfLabel(p.label) : undefined,
      startLba: start,
      endLba: start + sectors - 1,
      sectors,
      sizeBytes: sectors * sectorSize,
      offsetBytes: start * sectorSize,
      attributes,
    });
    cursor = start + sectors;
  });

  const lastEnd = Math.max(firstUsableLba, ...planned.map((p) => p.endLba + 1));
  const totalSectors = fixedTotal ?? alignUp(lastEnd + gptSectors + 1, alignmentSectors);
  const lastUsableLba = totalSectors - 2 - gptSectors;
  for (const p of planned) {
    if (p.endLba > lastUsableLba) fail(`${source}: partition ${p.number} (${p.label})`, `ends at sector ${p.endLba}, beyond the last usable sector ${lastUsableLba} of a ${totalSectors}-sector disk`);
  }
  assignVersionedSlots(planned);
  checkSlots(planned, source);
  checkSingleRoles(planned, (msg) => fail(source, msg));
  checkFixedGuids(planned, diskGuid, source);
  return {
    name: spec.name ?? source,
    description: spec.description,
    sectorSize,
    alignmentSectors,
    totalSectors,
    diskBytes: totalSectors * sectorSize,
    diskGuid,
    entryCount,
    firstUsableLba,
    lastUsableLba,
    partitions: planned,
  };
}

/**
 * Slots labelled by version (`imgbuild_@v`, `_empty`) rather than by letter are A and B in table order,
 * as the selector and findSlots find them on the disk.
 */
function assignVersionedSlots(planned: PlannedPartition[]): void {
  const slots = planned.filter((p) => p.role === 'usr-slot').sort((x, y) => x.number - y.number);
  if (slots.length === 2 && slots.every((p) => !p.slot)) slots.forEach((p, i) => (p.slot = i === 0 ? 'A' : 'B'));
}

function checkSlots(planned: PlannedPartition[], source: string): void {
  const slots = planned.filter((p) => p.role === 'usr-slot');
  if (slots.length === 0) return;
  if (slots.length !== 2) fail(source, `usr-slot partitions come in a pair (A and B); found ${slots.length}: ${slots.map((s) => s.label).join(', ')}`);
  const [a, b] = slots;
  if (!a.slot || !b.slot || a.slot === b.slot) fail(source, `slot partitions must be labelled ...-A and ...-B; found ${a.label} and ${b.label}`);
  if (a.type !== b.type) fail(source, `slot partitions ${a.label} and ${b.label} must share one type`);
  if (a.sectors !== b.sectors) fail(source, `slot partitions ${a.label} and ${b.label} must be the same size (${a.sizeBytes} vs ${b.sizeBytes} bytes)`);
}

/**
 * Fixed GUIDs must be unique: two partitions with one PARTUUID make `PARTUUID=` (and so
 * `verity.usr=PARTUUID=...`) name either of them, whichever the kernel finds first.
 */
function checkFixedGuids(planned: PlannedPartition[], diskGuid: string | undefined, source: string): void {
  const byUuid = new Map<string, PlannedPartition>();
  for (const p of planned) {
    if (!p.uuid) continue;
    const q = byUuid.get(p.uuid);
    if (q) fail(source, `partitions ${q.number} (${q.label}) and ${p.number} (${p.label}) share uuid ${p.uuid}; PARTUUID= would name either`);
    if (p.uuid === diskGuid) fail(source, `partition ${p.number} (${p.label}) has uuid ${p.uuid}, the same as the disk GUID`);
    byUuid.set(p.uuid, p);
  }
}

/**
 * The one check a table can fail that a plan cannot: a fixed GUID equal to one derived from this
 * seed (e.g. copied from an earlier image built with it), for a partition or the disk.
 */
function checkTableGuids(plan: LayoutPlan, t: GptTable, seed: string): void {
  const seen = new Map<string, string>([[t.diskGuid, 'the disk GUID']]);
  for (const p of plan.partitions) {
    const uuid = t.entries[p.number - 1].uuid;
    const prev = seen.get(uuid);
    if (prev) fail(`layout ${plan.name}`, `partition ${p.number} (${p.label}) would get uuid ${uuid}, already taken by ${prev} (with seed ${JSON.stringify(seed)}); fix another uuid in the layout`);
    seen.set(uuid, `partition ${p.number} (${p.label})`);
  }
}

/**
 * The slot pair `build` writes into: exactly one usr-slot labelled ...-A and one ...-B, of equal size.
 * `gpt create` and `layout show` accept layouts without slots; a bootable image needs both.
 */
export function requireSlotPair(plan: LayoutPlan, source: string = plan.name): Record<Slot, PlannedPartition> {
  const slots = plan.partitions.filter((p) => p.role === 'usr-slot');
  const a = slots.filter((p) => p.slot === 'A');
  const b = slots.filter((p) => p.slot === 'B');
  // A slot labelled but not marked is the likely mistake; say so.
  const unmarked = plan.partitions.filter((p) => p.role !== 'usr-slot' && /^USR-[AB]$/i.test(p.label));
  const hint = unmarked.map((p) => `partition ${p.number} (${p.label}) has role "${p.role}"`).join(', ');
  const found = slots.length ? `found ${slots.map((p) => `${p.number} (${p.label})`).join(', ')}` : `found none${hint ? ` (${hint})` : ''}`;
  if (slots.length !== 2 || a.length !== 1 || b.length !== 1) {
    throw new LayoutError(`layout ${plan.name}: build needs one USR-A and one USR-B partition with role "usr-slot"; ${found}`, { file: source });
  }
  if (a[0].sectors !== b[0].sectors) {
    throw new LayoutError(`layout ${plan.name}: slot partitions ${a[0].label} and ${b[0].label} must be the same size (${a[0].sizeBytes} vs ${b[0].sizeBytes} bytes)`, { file: source });
  }
  return { A: a[0], B: b[0] };
}

/** The slot partitions of a plan, A first. */
export function slotPartitions(plan: LayoutPlan): Record<Slot, PlannedPartition> {
  const a = plan.partitions.find((p) => p.role === 'usr-slot' && p.slot === 'A');
  const b = plan.partitions.find((p) => p.role === 'usr-slot' && p.slot === 'B');
  if (!a || !b) throw new LayoutError(`layout ${plan.name} has no USR-A/USR-B slot pair`);
  return { A: a, B: b };
}

/**
 * The partition UUID systemd-repart would derive: HMAC-SHA256(seed, type UUID bytes [|| le64 n]) as
 * a v4 UUID, where n counts earlier partitions of the same type.
 */
export function derivePartitionUuid(seed: string, type: string, n: number): string {
  const msg = [uuidToBytes(type)];
  if (n > 0) {
    const c = Buffer.alloc(8);
    c.writeBigUInt64LE(BigInt(n));
    msg.push(c);
  }
  return deriveUuid(seed, Buffer.concat(msg));
}

export function deriveDiskGuid(seed: string): string {
  return deriveUuid(seed, 'disk-guid');
}

/** A GPT for the plan: fixed GUIDs as given, the rest derived from `seed`. */
export function planToTable(plan: LayoutPlan, seed: string): GptTable {
  const t = emptyTable(plan.sectorSize, plan.totalSectors, plan.diskGuid ?? deriveDiskGuid(seed), plan.entryCount);
  const perType = new Map<string, number>();
  for (const p of plan.partitions) {
    const n = perType.get(p.type) ?? 0;
    perType.set(p.type, n + 1);
    t.entries[p.number - 1] = {
      type: p.type,
      uuid: p.uuid ?? derivePartitionUuid(seed, p.type, n),
      firstLba: p.startLba,
      lastLba: p.endLba,
      attributes: p.attributes,
      name: p.label,
    };
  }
  checkTableGuids(plan, t, seed);
  return t;
}
