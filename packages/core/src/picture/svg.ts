/**
 * The disk as an SVG picture: one bar to scale (each partition at least MIN_PX wide), labelled
 * inside when the label fits and below otherwise, slot states marked. Plain SVG 1.1 with no fonts or
 * scripts to fetch, so any viewer (and rsvg-convert in the test) draws it the same.
 */
import { formatBytes } from '../layout/spec.js';
import { partSectors, shares, SLOT_MARK_LEGEND, slotMarkText, type DiskPart, type DiskPicture } from './disk.js';

/** Fill per role; slot B a lighter blue than A so the pair reads as two. */
export const SVG_ROLE_FILL: Record<string, string> = { esp: '#b03a9c', 'usr-slot': '#2f62c9', root: '#2e9a4a', oem: '#c99a1d', data: '#1f9aa8' };
export const SVG_SLOT_B_FILL = '#5f8ff0';
export const SVG_OTHER_FILL = '#808080';
export const SVG_BACKGROUND = '#ffffff';

export const SVG_WIDTH = 800;
export const SVG_MARGIN = 10;
export const SVG_BAR_Y = 34;
export const SVG_BAR_HEIGHT = 56;
const MIN_PX = 8;
const CHAR_PX = 7; // about one character at 12px sans-serif

export function fillOf(p: DiskPart): string {
  if (p.mark?.slot === 'B') return SVG_SLOT_B_FILL;
  return SVG_ROLE_FILL[p.role ?? ''] ?? SVG_OTHER_FILL;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Each partition's x and width in pixels, in disk order (exported for the test that looks at the pixels). */
export function svgBoxes(pic: DiskPicture): Array<{ part: DiskPart; x: number; width: number }> {
  const widths = shares(pic.parts.map(partSectors), SVG_WIDTH - 2 * SVG_MARGIN, MIN_PX);
  let x = SVG_MARGIN;
  return pic.parts.map((part, i) => {
    const box = { part, x, width: widths[i] };
    x += widths[i];
    return box;
  });
}

/**
 * A {@link DiskPicture} as an SVG document (the pictures in the project's docs).
 *
 * @example
 * ```ts
 * await writeFile('layout.svg', diskSvg(diskPicture('flatcar', plan, planRecord(plan).partitions)));
 * ```
 */
export function diskSvg(pic: DiskPicture): string {
  const boxes = svgBoxes(pic);
  const below: string[] = [];
  const body: string[] = [];
  for (const { part: p, x, width } of boxes) {
    const mid = x + width / 2;
    const bytes = formatBytes(partSectors(p) * pic.sectorSize);
    body.push(
      `  <rect x="${x}" y="${SVG_BAR_Y}" width="${width}" height="${SVG_BAR_HEIGHT}" fill="${fillOf(p)}" stroke="${SVG_BACKGROUND}" stroke-width="1"><title>${esc(`${p.number} ${p.label} (${p.role ?? 'unknown role'}), ${bytes}`)}</title></rect>`,
    );
    const lines = [p.label, ...(p.mark ? [slotMarkText(p.mark)] : []), bytes];
    if (Math.max(...lines.map((l) => l.length)) * CHAR_PX <= width - 4) {
      lines.forEach((l, i) => body.push(`  <text x="${mid}" y="${SVG_BAR_Y + 18 + i * 15}" text-anchor="middle" fill="#ffffff">${esc(l)}</text>`));
    } else {
      // too narrow: its number in the bar when that fits, the label in a caption row below
      if (String(p.number).length * CHAR_PX <= width)
        body.push(`  <text x="${mid}" y="${SVG_BAR_Y + 32}" text-anchor="middle" fill="#ffffff">${p.number}</text>`);
      below.push(`${p.number} ${p.label}${p.mark ? ` ${slotMarkText(p.mark)}` : ''} ${bytes}`);
    }
  }
  const captionY = SVG_BAR_Y + SVG_BAR_HEIGHT + 20;
  const captions = [...(below.length ? [below.join(' · ')] : []), ...(pic.parts.some((p) => p.mark) ? [SLOT_MARK_LEGEND] : [])];
  const height = captionY + captions.length * 16;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${SVG_WIDTH}" height="${height}" viewBox="0 0 ${SVG_WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `  <rect width="${SVG_WIDTH}" height="${height}" fill="${SVG_BACKGROUND}"/>`,
    `  <text x="${SVG_MARGIN}" y="22" font-size="14" fill="#000000">${esc(`${pic.title}: ${formatBytes(pic.totalSectors * pic.sectorSize)}, ${pic.parts.length} partitions`)}</text>`,
    ...body,
    ...captions.map((c, i) => `  <text x="${SVG_MARGIN}" y="${captionY + i * 16}" fill="#333333">${esc(c)}</text>`),
    '</svg>',
    '',
  ].join('\n');
}
