/** How the CLI shows a disk picture: the bar on stdout (coloured on a terminal unless NO_COLOR), the SVG into a file. */
import { diskBar, diskSvg, withAtomicOutput, type DiskPicture } from '@imgbuild/core';
import { promises as fsp } from 'node:fs';

/** Colour only for a person at a terminal, and never when NO_COLOR is set (no-color.org: any non-empty value). */
export function colourWanted(stream: NodeJS.WriteStream = process.stdout): boolean {
  return stream.isTTY === true && !process.env.NO_COLOR;
}

export function barLines(pic: DiskPicture): string[] {
  return diskBar(pic, { width: pictureWidth(), colour: colourWanted() });
}

/**
 * Columns for the bar: `COLUMNS` when set to a number (as ls and the shells honour it, also through a
 * pipe), else the terminal's width up to 120, else 78.
 */
export function pictureWidth(env: NodeJS.ProcessEnv = process.env, terminal: number | undefined = process.stdout.columns): number {
  const set = /^\d+$/.test(env.COLUMNS ?? '') ? Number(env.COLUMNS) : 0;
  if (set > 0) return set;
  return terminal ? Math.min(terminal, 120) : 78;
}

/** Writes the SVG picture to `path` (atomically; an existing file only with --force). */
export async function writeSvg(path: string, pic: DiskPicture, force: boolean): Promise<void> {
  await withAtomicOutput(path, force, (tmp) => fsp.writeFile(tmp, diskSvg(pic)));
}
