/**
 * Checks on the paths and names a user gives, done before any work so that the one-line error names
 * what the user typed: an unknown layout name is a usage error (exit 2); an image argument that is
 * missing, a folder where a file is needed, or a qcow2 where a raw image is needed says so plainly.
 */
import { existsSync, promises as fsp } from 'node:fs';
import { fsError, InputError, UsageError } from '@imgbuild/core/errors';
import { BUILTIN_LAYOUT_NAMES, BUILTIN_LAYOUTS } from '@imgbuild/core/layouts';

/** A layout argument: a built-in name or an existing file. A bare unknown word is a usage error. */
export async function checkLayoutArg(nameOrFile: string): Promise<void> {
  if (BUILTIN_LAYOUTS[nameOrFile]) return;
  if (!existsSync(nameOrFile) && !/[./]/.test(nameOrFile)) {
    throw new UsageError(`unknown layout "${nameOrFile}" (built-in: ${BUILTIN_LAYOUT_NAMES.join(', ')}; or a path to a JSON file)`);
  }
}

const QCOW2_MAGIC = Buffer.from('QFI\xfb', 'latin1');

/**
 * An image argument that must be a raw disk image, or (with `bundle`) a qemu_uefi bundle folder.
 * qemu-img's qcow2 files are recognised by their magic: reading one as a raw disk would only report
 * "no GPT", which hides the real mistake.
 */
export async function checkImageArg(path: string, opts: { bundle: boolean }): Promise<void> {
  const st = await fsp.stat(path).catch((e) => {
    throw fsError(e, path);
  });
  if (st.isDirectory()) {
    const isBundle = opts.bundle && (await fsp.readdir(path)).some((f) => f.endsWith('.qcow2'));
    if (isBundle) return;
    throw new InputError(`is a directory, expected a raw disk image${opts.bundle ? ' or a qemu_uefi bundle folder (it has no .qcow2)' : ''}`, { file: path });
  }
  if (!st.isFile() && !st.isBlockDevice()) throw new InputError('is not a regular file or a block device, expected a raw disk image', { file: path });
  if (st.isBlockDevice()) return; // a disk holds a raw image, never a qcow2 file: nothing to sniff
  const fh = await fsp.open(path, 'r').catch((e) => {
    throw fsError(e, path, 'cannot open the image');
  });
  try {
    const head = Buffer.alloc(4);
    await fh.read(head, 0, 4, 0);
    if (head.equals(QCOW2_MAGIC)) {
      throw new InputError(`is a qcow2 image; give the raw image${opts.bundle ? ' or the qemu_uefi bundle folder' : ' (qemu-img convert -O raw)'}`, { file: path });
    }
  } finally {
    await fh.close();
  }
}
