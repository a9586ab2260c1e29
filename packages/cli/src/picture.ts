/** How the CLI shows a disk picture: the bar on stdout (coloured on a terminal unless NO_COLOR), the SVG into a file. */
import { diskBar, diskSvg, withAtomicOutput, type DiskPicture } from '@imgbuild/core';
import { promises as fsp } from 'node:fs';

/** Colour only for a person at a terminal, and never when NO_COLOR is set (no-color.org: any non-empty value). */
export function colourWanted(stream: NodeJS.WriteStream = process.stdout): boolean {
  return stream.isTTY === true && !process.env.NO_COLOR;
}

export function barLines(pic: DiskPicture): string[] {
  const columns = process.stdout.columns;
  return diskBar(pic, { width: columns ? Math.min(columns, 120) : 78, colour: colourWanted() });
}

/** Writes the SVG picture to `path` (atomically; an existing file only with --force). */
export async function writeSvg(path: string, pic: DiskPicture, force: boolean): Promise<void> {
  await withAtomicOutput(path, force, (tmp) => fsp.writeFile(tmp, diskSvg(pic)));
}
