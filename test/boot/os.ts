/** The example OS (os/debian/build.sh) for the boot tests: built once per version, cached in .cache/os. */
import { execa } from 'execa';
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';
import { readManifest } from './boot.js';

export interface OsBuild {
  usr: string;
  root: string;
  kernel: string;
  initrd: string;
  version: string;
}

/** Runs the recipe (minutes the first time, about a second when cached) and reads its last lines. */
export async function exampleOs(version: string, overlay?: string, pubring?: string): Promise<OsBuild> {
  const args = [join(ROOT, 'os/debian/build.sh'), '--version', version, ...(overlay ? ['--overlay', overlay] : []), ...(pubring ? ['--pubring', pubring] : [])];
  const r = await execa('bash', args, { reject: false, timeout: 1_800_000, env: { SOURCE_DATE_EPOCH: '1700000000' } });
  if (r.exitCode !== 0) throw new Error(`os/debian/build.sh failed:\n${String(r.stderr).split('\n').slice(-15).join('\n')}`);
  const kv = Object.fromEntries(
    String(r.stdout)
      .trim()
      .split('\n')
      .map((l) => l.match(/^(usr|root|kernel|initrd|version)=(.+)$/))
      .filter((m): m is RegExpMatchArray => !!m)
      .map((m) => [m[1], m[2]]),
  );
  for (const k of ['usr', 'root', 'kernel', 'initrd', 'version']) if (!kv[k]) throw new Error(`os/debian/build.sh printed no ${k}=:\n${r.stdout}`);
  return kv as unknown as OsBuild;
}

/** The guest's CPUs and memory for this OS: systemd under TCG wants memory and a second CPU (≈ 30 % faster). */
export const OS_SMP = 2;
export const OS_MEMORY_MIB = 2048;
/** The same as `imgbuild qemu` options. */
export const OS_QEMU = ['--memory', String(OS_MEMORY_MIB), '--smp', String(OS_SMP)];

/**
 * Inverts one byte of the /usr in `label`'s partition, in the squashfs's first 4 KiB block: the block
 * udev's probe of /dev/mapper/usr (in the initrd) and the mount read first, so dm-verity meets it early.
 */
export function corruptUsr(img: string, label = 'USR-B'): void {
  const part = readManifest(img).partitions.find((p) => p.label === label)!;
  const off = part.firstLba * 512 + 2048;
  const fd = openSync(img, 'r+');
  try {
    const x = Buffer.alloc(1);
    readSync(fd, x, 0, 1, off);
    writeSync(fd, Buffer.from([x[0] ^ 0xff]), 0, 1, off);
  } finally {
    closeSync(fd);
  }
}
