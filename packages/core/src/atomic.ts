/**
 * "Nothing half-written": outputs are built under a temporary name beside the target and renamed into
 * place at the end. On failure, and on SIGINT/SIGTERM, the temporary is removed.
 */
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { promises as fsp, rmSync } from 'node:fs';
import { fsError, InputError, UsageError } from './errors.js';

const pending = new Set<string>();
const interruptHooks = new Set<() => void>();
let handlersInstalled = false;

/** SIGINT, SIGTERM and SIGHUP end the process the shell's way (128 + signal), after the hooks ran. */
const INTERRUPTS = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;

function installSignalHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const [sig, code] of Object.entries(INTERRUPTS)) {
    process.once(sig, () => {
      // Hooks first: a child (qemu) must stop using a folder before that folder is removed.
      for (const hook of interruptHooks) {
        try {
          hook();
        } catch {
          // one hook's failure must not keep the others, or the temporaries' removal, from running
        }
      }
      for (const p of pending) rmSync(p, { recursive: true, force: true });
      process.exit(code);
    });
  }
}

/**
 * Registers a synchronous clean-up (kill a child, remove a folder) for SIGINT/SIGTERM/SIGHUP, which
 * `process.on('exit')` alone never sees. Returns its removal.
 */
export function onInterrupt(hook: () => void): () => void {
  installSignalHandlers();
  interruptHooks.add(hook);
  return () => interruptHooks.delete(hook);
}

/** What kind of thing is at `path` (through symlinks), or undefined when nothing is. */
async function kindAt(path: string): Promise<string | undefined> {
  const st = await fsp.stat(path).catch((e: NodeJS.ErrnoException) => {
    // A dangling symlink is "something" too: renaming over it replaces the link, which is fine.
    if (e.code === 'ENOENT') return fsp.lstat(path).catch(() => undefined);
    throw fsError(e, path, 'cannot inspect the output');
  });
  if (!st) return undefined;
  if (st.isFile() || st.isSymbolicLink()) return 'file';
  if (st.isDirectory()) return 'a directory';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * The output rule: a missing target is created; an existing regular file (or a symlink to one, which
 * is replaced, not followed) only with `force`; anything else — a directory, a block device, a FIFO,
 * a socket, or a symlink to one — never, whatever the flags. A directory may hold a user's data and
 * a block device may be a disk; neither is ours to delete, and no output of ours belongs in place of one.
 *
 * @example
 * ```ts
 * await assertWritableTarget('disk.raw', false); // InputError if disk.raw exists
 * ```
 */
export async function assertWritableTarget(target: string, force: boolean): Promise<void> {
  // An empty name would stage `./..tmp-…` and name nothing the user could find.
  if (target.trim() === '') throw new UsageError('the output path is empty: name a file');
  const kind = await kindAt(target);
  if (kind && kind !== 'file') {
    throw new InputError(`output exists and is ${kind}; imgbuild only ever replaces a regular file, even with --force (remove it or choose another name)`, { file: target });
  }
  if (kind && !force) throw new InputError('output exists (use --force to overwrite)', { file: target });
  const parent = await fsp.stat(dirname(target)).catch(() => undefined);
  if (!parent) throw new InputError('output folder does not exist', { file: target });
  if (!parent.isDirectory()) throw new InputError('output folder is not a directory', { file: target });
}

/** A temporary path beside `target` (same filesystem, so the final rename is atomic). */
export function tempPathFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/**
 * The path a user gave for a temporary made by `tempPathFor` (`dir/.x.raw.tmp-4142-9f3a…` → `dir/x.raw`),
 * any other path unchanged: messages name what the user asked for, never our staging names.
 *
 * @example
 * ```ts
 * userPathOf('out/.disk.raw.tmp-4142-9f3a'); // 'out/disk.raw'
 * ```
 */
export function userPathOf(path: string): string {
  const m = /^\.(.+)\.tmp-\d+(?:-[0-9a-f]+)?$/.exec(basename(path));
  return m ? join(dirname(path), m[1]) : path;
}

/**
 * Runs `build(tmp)` and renames `tmp` to `target` when it succeeds. `tmp` may be a file or a folder.
 * Refuses an existing target unless `force`, and anything but a regular file always (assertWritableTarget).
 *
 * @example
 * ```ts
 * await withAtomicOutput('disk.svg', false, async (tmp) => {
 *   await writeFile(tmp, diskSvg(picture));
 * });
 * ```
 */
export async function withAtomicOutput<T>(target: string, force: boolean, build: (tmp: string) => Promise<T>): Promise<T> {
  await assertWritableTarget(target, force);
  const tmp = tempPathFor(target);
  installSignalHandlers();
  pending.add(tmp);
  try {
    const result = await build(tmp);
    // Checked again: something may have appeared at the target while we built. (A folder renamed
    // over an empty folder would replace it silently; a file renamed over a file is the atomic replace.)
    await assertWritableTarget(target, force);
    await fsp.rename(tmp, target);
    await syncDir(dirname(target));
    return result;
  } catch (e) {
    await fsp.rm(tmp, { recursive: true, force: true });
    throw e;
  } finally {
    pending.delete(tmp);
  }
}

/** Registers an extra path to remove if the process is interrupted (sidecar files). */
export function trackTemporary(path: string): () => void {
  installSignalHandlers();
  pending.add(path);
  return () => pending.delete(path);
}

/** fsync a folder, so a rename into it survives a power cut. */
export function syncDir(dir: string): Promise<void> {
  return syncPath(dir, 'sync');
}

/**
 * fdatasync a file: started early (not awaited at once), it sends bytes already written to the disk
 * while other work goes on, so a later sync (a GPT write's, the flip's) waits for less.
 */
export function flushFile(path: string): Promise<void> {
  return syncPath(path, 'datasync');
}

async function syncPath(path: string, how: 'sync' | 'datasync'): Promise<void> {
  const fh = await fsp.open(path, 'r');
  try {
    await fh[how]();
  } finally {
    await fh.close();
  }
}

/**
 * Writes `data` to `path` through a synced temporary beside it and a rename: old or new, never half.
 *
 * @example
 * ```ts
 * await writeFileAtomic('disk.raw.manifest.json', JSON.stringify(manifest, null, 2));
 * ```
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = tempPathFor(path);
  const untrack = trackTemporary(tmp);
  try {
    const fh = await fsp.open(tmp, 'w');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, path);
    await syncDir(dirname(path));
  } catch (e) {
    await fsp.rm(tmp, { recursive: true, force: true });
    throw e;
  } finally {
    untrack();
  }
}
