/**
 * Inputs and measurements shared by the image benches (build-update.mjs, publish.mjs): a fake /usr
 * and kernel, a command's wall/CPU/peak RSS through /usr/bin/time, and the reference copy (`dd`).
 * (In hack/bench/lib/ so hack/bench.mjs does not run it as a section.)
 */
import { spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const MiB = 2 ** 20;
export const f2 = (x) => x.toFixed(2);

/**
 * A real (tiny) squashfs at the start, so the superblock checks (and the version read from its
 * os-release) pass, then random bytes up to `size`: every byte of the file is copied and hashed.
 */
export function fakeSquashfs(dir, path, size, osRelease = 'ID=bench\nVERSION_ID=1\n') {
  const tree = join(dir, 'sqtree');
  rmSync(tree, { recursive: true, force: true });
  mkdirSync(join(tree, 'lib'), { recursive: true });
  writeFileSync(join(tree, 'lib/os-release'), osRelease);
  const head = join(dir, 'head.squashfs');
  const r = spawnSync('mksquashfs', [tree, head, '-noappend', '-quiet', '-all-root', '-no-progress'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mksquashfs: ${r.stderr}`);
  const sq = readFileSync(head);
  const fd = openSync(path, 'w');
  const buf = Buffer.allocUnsafe(16 * MiB);
  try {
    for (let at = 0; at < Math.max(size, sq.length); at += buf.length) {
      randomFillSync(buf);
      if (at === 0) sq.copy(buf, 0);
      writeSync(fd, buf, 0, Math.min(buf.length, Math.max(size, sq.length) - at), at);
    }
  } finally {
    closeSync(fd);
  }
}

export function fakeKernel(path) {
  const k = Buffer.alloc(1 * MiB);
  randomFillSync(k);
  k.writeUInt16LE(0xaa55, 0x1fe);
  k.write('HdrS', 0x202, 'latin1');
  k.writeUInt16LE(0x020f, 0x206); // boot protocol 2.15
  k.writeUInt32LE(2047, 0x238); // cmdline_size
  writeFileSync(path, k);
}

/** Wall seconds, CPU seconds (user + sys of the child) and peak RSS in MiB, through /usr/bin/time. */
export function measured(timeRun, cmd, args, opts) {
  const r = timeRun('/usr/bin/time', ['-f', 'IMGBUILD_BENCH %U %S %M', cmd, ...args], opts);
  const m = /IMGBUILD_BENCH ([\d.]+) ([\d.]+) (\d+)/.exec(r.stderr);
  return { secs: r.secs, cpu: m ? Number(m[1]) + Number(m[2]) : NaN, rssMiB: m ? Number(m[3]) / 1024 : NaN, stdout: r.stdout };
}

/**
 * What the kernel charges for the bytes a build writes and verity alone does not: `dd` of the /usr
 * image into a new file, flushed (`conv=fdatasync`). On a VM, page-cache memory the guest has not
 * touched lately costs the host's fault per page, which is why this moves a lot between runs.
 */
export function kernelCopy(timeRun, from, to) {
  rmSync(to, { force: true });
  const r = measured(timeRun, 'dd', [`if=${from}`, `of=${to}`, 'bs=4M', 'conv=fdatasync', 'status=none']);
  rmSync(to, { force: true });
  return r;
}

/** One line when this machine hands freed memory back to its host, which makes the copy's cost move. */
export function pageReportingLine() {
  const f = '/sys/module/page_reporting/parameters/page_reporting_order';
  if (!existsSync(f)) return null;
  const order = Number(readFileSync(f, 'utf8').trim());
  return (
    `  this VM reports freed memory to its host (free page reporting, ${(4096 * 2 ** order) / MiB} MiB chunks): page-cache memory freed a moment` +
    " earlier costs a host fault per page when written again, so the copy (dd's, the build's, the update's) moves between rounds"
  );
}
