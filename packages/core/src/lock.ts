/**
 * One advisory lock per image, taken by every command that writes one: flock(2) on the image itself
 * (a bundle's folder, a device), never a lock file. The lock belongs to an open file description of
 * this process, so the kernel drops it when the process dies in any way (kill -9 included): nothing
 * is ever left behind to refuse the next command.
 *
 * Node has no flock binding. util-linux's `flock FD` (present on every Debian) is given our open
 * descriptor as its fd 3, locks it and exits; the lock stays with the description, which we keep.
 */
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fsError, ImageBusyError, InputError, ToolError } from './errors.js';
import { refuseDeviceWrite } from './storage.js';

/** Default wait for a lock another command holds; `IMGBUILD_LOCK_WAIT` (seconds, 0 = at once) overrides it. */
export const DEFAULT_LOCK_WAIT_SECONDS = 60;

/**
 * Options of {@link withImageLock}.
 *
 * @example
 * ```ts
 * await withImageLock('disk.raw', work, { waitSeconds: 5, onWait: () => console.error('waiting for another imgbuild…') });
 * ```
 */
export interface ImageLockOptions {
  /** Seconds to wait for another holder; default IMGBUILD_LOCK_WAIT or 60. */
  waitSeconds?: number;
  /** Told once when the lock is taken by someone else and we start waiting. */
  onWait?: () => void;
}

interface Held {
  fh: FileHandle;
  depth: number;
}

/** Locks this process holds, by device:inode, so a command that locks twice (update → sign) nests. */
const held = new Map<string, Held>();

function waitSecondsFrom(opts: ImageLockOptions): number {
  if (opts.waitSeconds !== undefined) return opts.waitSeconds;
  const env = process.env.IMGBUILD_LOCK_WAIT;
  if (env === undefined || env === '') return DEFAULT_LOCK_WAIT_SECONDS;
  const n = Number(env);
  if (!Number.isFinite(n) || n < 0) throw new InputError(`IMGBUILD_LOCK_WAIT must be a number of seconds, not "${env}"`);
  return n;
}

/** Runs `flock` on our descriptor: true when locked, false when someone else kept it past `wait`. */
function flockFd(fh: FileHandle, waitSeconds: number, file: string): Promise<boolean> {
  const args = waitSeconds > 0 ? ['--exclusive', '--wait', String(waitSeconds), '--conflict-exit-code', '75', '3'] : ['--exclusive', '--nonblock', '--conflict-exit-code', '75', '3'];
  return new Promise((done, fail) => {
    const child = spawn('flock', args, { stdio: ['ignore', 'ignore', 'pipe', fh.fd] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e: NodeJS.ErrnoException) =>
      fail(new ToolError(e.code === 'ENOENT' ? 'flock not found (install util-linux)' : `flock: ${e.message}`, { file })),
    );
    child.on('close', (code) => {
      if (code === 0) done(true);
      else if (code === 75) done(false);
      else fail(new ToolError(`cannot lock the image: flock exited ${code}${stderr ? `: ${stderr.trim()}` : ''}`, { file }));
    });
  });
}

async function identity(fh: FileHandle): Promise<string> {
  const st = await fh.stat();
  return `${st.dev}:${st.ino}`;
}

/** Opens and locks `path`; retries when the path was replaced (renamed over) while we waited. */
async function acquire(path: string, file: string, opts: ImageLockOptions): Promise<{ key: string; fh: FileHandle } | { key: string; nested: true }> {
  const wait = waitSecondsFrom(opts);
  // A lock is taken to write, and a device is never written.
  const st = await fsp.stat(path).catch((e: unknown) => {
    throw fsError(e, file);
  });
  refuseDeviceWrite(st, file);
  for (;;) {
    const fh = await fsp.open(path, 'r').catch((e: unknown) => {
      throw fsError(e, file);
    });
    const key = await identity(fh);
    if (held.has(key)) {
      await fh.close();
      return { key, nested: true };
    }
    let locked = await flockFd(fh, 0, file);
    if (!locked && wait > 0) {
      opts.onWait?.();
      locked = await flockFd(fh, wait, file);
    }
    if (!locked) {
      await fh.close();
      throw new ImageBusyError(`another imgbuild command is writing this image (waited ${wait} s; IMGBUILD_LOCK_WAIT sets how long)`, { file });
    }
    // `build --force` renames a new image over the old one: a lock on the old inode guards nothing.
    const now = await fsp.stat(path).catch(() => undefined);
    if (now && `${now.dev}:${now.ino}` === key) return { key, fh };
    await fh.close();
  }
}

/**
 * Runs `fn` holding the image's exclusive lock. Waits for another holder (see ImageLockOptions), then
 * refuses with ImageBusyError. Nested calls on the same image in this process share the lock.
 *
 * @example
 * await withImageLock('disk.raw', () => applySlotTransition('disk.raw', (t) => prioritize(t, 'B')));
 */
export async function withImageLock<T>(image: string, fn: () => Promise<T>, opts: ImageLockOptions = {}): Promise<T> {
  const got = await acquire(resolve(image), image, opts);
  const entry = 'nested' in got ? held.get(got.key)! : { fh: got.fh, depth: 0 };
  held.set(got.key, entry);
  entry.depth++;
  try {
    return await fn();
  } finally {
    if (--entry.depth === 0) {
      held.delete(got.key);
      await entry.fh.close();
    }
  }
}

/** withImageLock when `path` exists (an output about to be replaced with --force); `fn` alone otherwise. */
export async function withLockIfExists<T>(path: string, fn: () => Promise<T>, opts: ImageLockOptions = {}): Promise<T> {
  const exists = await fsp.stat(path).then(
    (st) => st.isFile() || st.isDirectory(),
    () => false,
  );
  return exists ? withImageLock(path, fn, opts) : fn();
}
