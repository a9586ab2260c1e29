/**
 * The disk as one terminal line, to scale: `|EFI-SYSTEM|2|USR-A ▸A●|USR-B B○ tries 1|6|7|ROOT|`.
 * A partition too narrow for its label shows its number (or one cell). Colour (a background per role)
 * only when asked: the CLI asks on a terminal without NO_COLOR.
 */
import { formatBytes } from '../layout/spec.js';
import { partSectors, shares, SLOT_MARK_LEGEND, slotMarkText, type DiskPart, type DiskPicture } from './disk.js';

/** ANSI background per role; slot B a shade apart from A so the pair reads as two. */
const ROLE_COLOUR: Record<string, string> = { esp: '45', 'usr-slot': '44', root: '42', oem: '43', data: '46' };
const RESET = '\x1b[0m';

function colourOf(p: DiskPart): string {
  if (p.mark?.slot === 'B') return '104';
  return ROLE_COLOUR[p.role ?? ''] ?? '100';
}

function fit(p: DiskPart, cells: number): string {
  const mark = p.mark ? ` ${slotMarkText(p.mark)}` : '';
  for (const t of [p.label + mark, p.label, `${p.number}${mark}`, String(p.number)])
    if ([...t].length <= cells) return t.padEnd(cells + t.length - [...t].length);
  return String(p.number).slice(0, Math.max(cells, 1)).padEnd(cells);
}

/**
 * A {@link DiskPicture} as lines of terminal text: a bar of the partitions to scale, coloured by role
 * when `colour`, with a label per partition and the slots' marks.
 *
 * @example
 * ```ts
 * const plan = await loadLayout('flatcar');
 * console.log(diskBar(diskPicture('flatcar', plan, planRecord(plan).partitions), { width: 80 }).join('\n'));
 * ```
 */
export function diskBar(pic: DiskPicture, opts: { width?: number; colour?: boolean } = {}): string[] {
  const width = Math.max(20, opts.width ?? 78);
  // one separator per partition and a closing one
  const cells = shares(pic.parts.map(partSectors), width - pic.parts.length - 1);
  let line = '';
  pic.parts.forEach((p, i) => {
    const text = fit(p, cells[i]);
    line += opts.colour ? `|\x1b[30;${colourOf(p)}m${text}${RESET}` : `|${text}`;
  });
  line += '|';
  const lines = [`${pic.title}: ${formatBytes(pic.totalSectors * pic.sectorSize)}`, line];
  if (pic.parts.some((p) => p.mark)) lines.push(SLOT_MARK_LEGEND);
  return lines;
}
