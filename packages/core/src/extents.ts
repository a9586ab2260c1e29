/**
 * Where a file holds data: the extents FIEMAP reports (through e2fsprogs' `filefrag`), so that
 * readers of sparse images (the image digest, the empty-slot check) read only what may be non-zero.
 */
import { execFile } from 'node:child_process';

/** A byte range of a file: [offset, length). */
export type Extent = readonly [offset: number, length: number];

/**
 * The file's data extents (byte ranges that may hold non-zero bytes) from FIEMAP via `filefrag -e`,
 * or null when it cannot tell (not installed, a filesystem without FIEMAP, output not understood).
 * Delayed-allocation and unwritten extents are listed too: reading them costs only what they hold.
 */
export function dataExtents(path: string): Promise<Extent[] | null> {
  return new Promise((resolve) => {
    execFile('filefrag', ['-e', '-b1', path], { maxBuffer: 64 << 20, env: { ...process.env, LC_ALL: 'C' } }, (err, stdout) =>
      resolve(err ? null : parseFilefrag(stdout)),
    );
  });
}

/** `filefrag -e -b1` output → byte extents, or null when it is not that table. */
export function parseFilefrag(stdout: string): Extent[] | null {
  const lines = stdout.split('\n');
  const header = lines.findIndex((l) => /^\s*ext:\s+logical_offset:/.test(l));
  const total = /: (\d+) extents? found\s*$/m.exec(stdout);
  if (!total) return null;
  if (header < 0) return Number(total[1]) === 0 ? [] : null;
  const out: Extent[] = [];
  for (const l of lines.slice(header + 1)) {
    const m = /^\s*\d+:\s+(\d+)\.\.\s*(\d+):/.exec(l);
    if (m) out.push([Number(m[1]), Number(m[2]) - Number(m[1]) + 1]);
  }
  // filefrag counts logically contiguous extents as one ("N extents found"): there may be more lines.
  return out.length >= Number(total[1]) ? out : null;
}

/** `extents` cut to [offset, offset + length). */
export function clipExtents(extents: readonly Extent[], offset: number, length: number): Extent[] {
  const end = offset + length;
  return extents.flatMap(([o, l]) => {
    const a = Math.max(o, offset);
    const b = Math.min(o + l, end);
    return b > a ? [[a, b - a] as const] : [];
  });
}
