/**
 * "Nothing half-written": outputs are built under a temporary name beside the target and renamed into
 * place at the end. On failure, and on SIGINT/SIGTERM, the temporary is removed.
 */
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import fse from 'fs-extra';
import { ImgbuildError } from './errors.js';

const pending = new Set<string>();
let handlersInstalled = false;

function installSignalHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const p of pending) fse.removeSync(p);
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
}

export async function assertWritableTarget(target: string, force: boolean): Promise<void> {
  if (!force && (await fse.pathExists(target))) {
    throw new ImgbuildError('output exists (use --force to overwrite)', { file: target });
  }
  if (!(await fse.pathExists(dirname(target)))) throw new ImgbuildError('output folder does not exist', { file: target });
}

/** A temporary path beside `target` (same filesystem, so the final rename is atomic). */
export function tempPathFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/**
 * Runs `build(tmp)` and renames `tmp` to `target` when it succeeds. `tmp` may be a file or a folder.
 * Refuses an existing target unless `force`.
 */
export async function withAtomicOutput<T>(target: string, force: boolean, build: (tmp: string) => Promise<T>): Promise<T> {
  await assertWritableTarget(target, force);
  const tmp = tempPathFor(target);
  installSignalHandlers();
  pending.add(tmp);
  try {
    const result = await build(tmp);
    // A file is replaced atomically by the rename itself; a folder cannot be renamed over one.
    if (force && (await fse.stat(target).catch(() => undefined))?.isDirectory()) await fse.remove(target);
    await fse.rename(tmp, target);
    await syncDir(dirname(target));
    return result;
  } catch (e) {
    await fse.remove(tmp);
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
export async function syncDir(dir: string): Promise<void> {
  const fh = await fse.promises.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes `data` to `path` through a synced temporary beside it and a rename: old or new, never half. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = tempPathFor(path);
  const untrack = trackTemporary(tmp);
  try {
    const fh = await fse.promises.open(tmp, 'w');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fse.rename(tmp, path);
    await syncDir(dirname(path));
  } catch (e) {
    await fse.remove(tmp);
    throw e;
  } finally {
    untrack();
  }
}

/**
 * Runs `fn` holding `<image>.lock` (created exclusively), so two updaters never write the same
 * inactive slot at once. A lock left by a killed process is named in the error, to be removed by hand.
 */
export async function withImageLock<T>(image: string, fn: () => Promise<T>): Promise<T> {
  const lock = `${image.replace(/\/+$/, '')}.lock`;
  try {
    await fse.promises.writeFile(lock, `${process.pid}\n`, { flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new ImgbuildError(`another imgbuild is changing this image (lock ${lock}; remove it if none is running)`, { file: image });
    }
    throw e;
  }
  const untrack = trackTemporary(lock);
  try {
    return await fn();
  } finally {
    await fse.remove(lock);
    untrack();
  }
}
