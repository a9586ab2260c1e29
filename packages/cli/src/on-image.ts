/** Opening the image a command works on; apart from args.ts, which the verity start-up path loads. */
import { aboutFile, FileStorage, fsError, withImageLock, withRawImage } from '@imgbuild/core';
import { checkImageArg } from './args.js';

/**
 * `fn` on a raw image, or on a qemu_uefi bundle through a raw copy of its qcow2 (written back when
 * `writable` and changed), with system errors named after the path the user gave.
 */
export async function onImage<T>(image: string, writable: boolean, fn: (s: FileStorage) => Promise<T>): Promise<T> {
  await checkImageArg(image, { bundle: true });
  // A writer holds the image's lock from the first read to the last write (a bundle: its folder,
  // across the qcow2 round trip), so two commands never interleave their read-change-write.
  const locked = writable ? <R>(f: () => Promise<R>) => withImageLock(image, f, { onWait: waitNotice(image) }) : <R>(f: () => Promise<R>) => f();
  return locked(() => withRawImage(image, writable, async (raw) => {
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
  }));
}

/** One line on stderr when another command holds the image: the wait is then no mystery. */
export function waitNotice(image: string): () => void {
  return () => process.stderr.write(`imgbuild: ${image}: waiting for another imgbuild command that is writing it\n`);
}
