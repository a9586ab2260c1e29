/** Opening the image a command works on; apart from args.ts, which the verity start-up path loads. */
import { aboutFile, FileStorage, fsError, withRawImage } from '@imgbuild/core';
import { checkImageArg } from './args.js';

/**
 * `fn` on a raw image, or on a qemu_uefi bundle through a raw copy of its qcow2 (written back when
 * `writable` and changed), with system errors named after the path the user gave.
 */
export async function onImage<T>(image: string, writable: boolean, fn: (s: FileStorage) => Promise<T>): Promise<T> {
  await checkImageArg(image, { bundle: true });
  return withRawImage(image, writable, async (raw) => {
    const s = await FileStorage.open(raw, writable).catch((e) => {
      throw fsError(e, image, 'cannot open the image');
    });
    try {
      return await fn(s);
    } catch (e) {
      throw aboutFile(e, image);
    } finally {
      await s.close();
    }
  });
}
