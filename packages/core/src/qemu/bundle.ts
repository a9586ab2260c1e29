/**
 * The qemu_uefi output, shaped like Flatcar's: `<name>.qcow2`, a read-only copy of the OVMF code,
 * a per-VM copy of the OVMF variables, and `<name>.sh`, a launch script with Flatcar's habits.
 * This file finds a bundle and opens its disk as a raw image; bundle-write.ts writes one.
 */
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { syncDir, trackTemporary } from '../atomic.js';
import { execa } from '../exec.js';
import { fsError, ImgbuildError, InputError, ToolError, withFile } from '../errors.js';


export interface BundlePaths {
  dir: string;
  name: string;
  qcow2: string;
  code: string;
  vars: string;
  script: string;
  manifest: string;
}

export function bundlePaths(dir: string, name: string): BundlePaths {
  return {
    dir,
    name,
    qcow2: join(dir, `${name}.qcow2`),
    code: join(dir, `${name}_efi_code.fd`),
    vars: join(dir, `${name}_efi_vars.fd`),
    script: join(dir, `${name}.sh`),
    manifest: join(dir, `${name}.manifest.json`),
  };
}

/** Finds the bundle in a folder made by `imgbuild build --format qemu_uefi`. */
export async function findBundle(dir: string): Promise<BundlePaths> {
  const names = (await fsp.readdir(dir)).filter((f) => f.endsWith('.qcow2'));
  if (names.length !== 1) throw new InputError(`a qemu_uefi bundle folder holds exactly one .qcow2; found ${names.length}`, { file: dir });
  return bundlePaths(dir, names[0].slice(0, -'.qcow2'.length));
}

export async function convertImage(from: string, fromFormat: 'raw' | 'qcow2', to: string, toFormat: 'raw' | 'qcow2'): Promise<void> {
  // -t writeback: qemu-img convert does not flush by default, and its output may be renamed over the
  // only good copy of a disk.
  const r = await execa('qemu-img', ['convert', '-t', 'writeback', '-f', fromFormat, '-O', toFormat, from, to], { reject: false });
  if (r.exitCode !== 0) throw new ToolError(`qemu-img convert failed: ${String(r.stderr).trim().split('\n').pop()}`, { file: from });
}

/**
 * Runs `fn` on a raw view of `target`: the file itself, or, for a qemu_uefi bundle folder, a raw copy
 * of its qcow2 beside it. When `writable`, the copy is converted back and renamed over the qcow2, so
 * the bundle is either entirely old or entirely new.
 */
export async function withRawImage<T>(target: string, writable: boolean, fn: (raw: string) => Promise<T>): Promise<T> {
  const st = await fsp.stat(target).catch(() => undefined);
  if (!st?.isDirectory()) return fn(target);
  const bundle = await findBundle(target);
  // A read-only look needs no write access to the bundle; a change is staged beside the qcow2.
  const scratch = writable ? undefined : await fsp.mkdtemp(join(tmpdir(), 'imgbuild-bundle-'));
  const raw = scratch ? join(scratch, `${bundle.name}.raw`) : join(dirname(bundle.qcow2), `.${bundle.name}.raw.tmp-${process.pid}`);
  const qcow2 = `${raw}.qcow2`;
  const untrack = [trackTemporary(scratch ?? raw), trackTemporary(qcow2)];
  try {
    await convertImage(bundle.qcow2, 'qcow2', raw, 'raw');
    const result = await fn(raw);
    if (writable) {
      await convertImage(raw, 'raw', qcow2, 'qcow2');
      await fsp.rename(qcow2, bundle.qcow2);
      await syncDir(dirname(bundle.qcow2));
    }
    return result;
  } catch (e) {
    // Errors about the staging copy are about the bundle, as far as the user can tell.
    if (e instanceof ImgbuildError && (e.file === raw || e.file === qcow2)) {
      throw withFile(e, target);
    }
    if ([raw, qcow2].includes((e as NodeJS.ErrnoException)?.path ?? '')) throw fsError(e, target);
    throw e;
  } finally {
    await fsp.rm(scratch ?? raw, { recursive: true, force: true });
    await fsp.rm(qcow2, { force: true });
    untrack.forEach((u) => u());
  }
}
