/**
 * What a picture of a disk shows, drawn the same way from a layout plan, a GPT and a slot status: the
 * disk's sectors and each partition's range, role and (for a slot) its boot state. The renderers
 * (bar.ts for a terminal, svg.ts for a file) take only this.
 */
import type { PartitionRecord } from '../gpt/record.js';
import type { Slot, SlotStatus } from '../slot/state.js';

/**
 * A slot's boot state as a {@link DiskPicture} shows it.
 *
 * @example
 * ```ts
 * const { status } = await readSlotStatus('disk.raw');
 * const marks = diskPicture('disk.raw', table, records, status).parts.flatMap((p) => p.mark ?? []);
 * ```
 */
export interface SlotMark {
  slot: Slot;
  priority: number;
  tries: number;
  successful: boolean;
  canBoot: boolean;
  /** The slot the firmware picks next. */
  next: boolean;
}

/**
 * One partition in a {@link DiskPicture}, with its slot's mark when it is a slot.
 *
 * @example
 * ```ts
 * for (const p of picture.parts) console.log(p.label, p.lastLba - p.firstLba + 1, p.mark?.next ? '▸' : '');
 * ```
 */
export interface DiskPart {
  number: number;
  label: string;
  role: string | null;
  firstLba: number;
  lastLba: number;
  mark?: SlotMark;
}

/**
 * A disk's partitions in disk order, ready to draw with {@link diskBar} or {@link diskSvg}.
 *
 * @example
 * ```ts
 * const pic: DiskPicture = diskPicture('mini', plan, planRecord(plan).partitions);
 * ```
 */
export interface DiskPicture {
  title: string;
  sectorSize: number;
  totalSectors: number;
  parts: DiskPart[];
}

/**
 * The picture of partitions in the common vocabulary, with the slots' states when a status is known.
 *
 * @example
 * ```ts
 * // An image's partitions with the slots' boot state
 * const { status, table } = await readSlotStatus('disk.raw');
 * const records = partitions(table).map((p) => partitionRecord(p, roleInTable(p)));
 * console.log(diskBar(diskPicture('disk.raw', table, records, status)).join('\n'));
 * ```
 */
export function diskPicture(
  title: string,
  disk: { sectorSize: number; totalSectors: number },
  partitions: Pick<PartitionRecord, 'number' | 'label' | 'role' | 'firstLba' | 'lastLba'>[],
  status?: SlotStatus,
): DiskPicture {
  const parts = partitions.map((p) => {
    const s = status?.slots.find((x) => x.number === p.number);
    const mark = s && { slot: s.slot, priority: s.priority, tries: s.tries, successful: s.successful, canBoot: s.canBoot, next: status!.next === s.slot };
    return { number: p.number, label: p.label, role: p.role, firstLba: p.firstLba, lastLba: p.lastLba, ...(mark ? { mark } : {}) };
  });
  return { title, sectorSize: disk.sectorSize, totalSectors: disk.totalSectors, parts: parts.sort((a, b) => a.firstLba - b.firstLba) };
}

/** `A●`, `B○ tries 1`, `B✗`: ● good (successful), ○ on trial, ✗ cannot boot; ▸ before the slot that boots next. */
export function slotMarkText(m: SlotMark): string {
  const sign = !m.canBoot ? '✗' : m.successful ? '●' : '○';
  return `${m.next ? '▸' : ''}${m.slot}${sign}${m.tries > 0 ? ` tries ${m.tries}` : ''}`;
}

export const SLOT_MARK_LEGEND = '▸ boots next  ● good  ○ on trial  ✗ cannot boot';

/**
 * Splits `width` cells among the partitions in proportion to their size, each getting at least
 * `min` (a 2 MiB partition on a 2 GiB disk still shows), by largest remainder so the total is exact.
 * Unallocated space between partitions is not drawn: the bar is the partitions, to scale among themselves.
 */
export function shares(sizes: number[], width: number, min = 1): number[] {
  const n = sizes.length;
  if (n === 0) return [];
  const room = Math.max(0, width - n * min);
  const total = sizes.reduce((a, b) => a + b, 0) || 1;
  const exact = sizes.map((s) => (s / total) * room);
  const cells = exact.map((x) => Math.floor(x));
  let left = room - cells.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => [x - Math.floor(x), i] as const).sort((a, b) => b[0] - a[0]);
  for (const [, i] of order) {
    if (left <= 0) break;
    cells[i]++;
    left--;
  }
  return cells.map((c) => c + min);
}

export const partSectors = (p: DiskPart) => p.lastLba - p.firstLba + 1;
