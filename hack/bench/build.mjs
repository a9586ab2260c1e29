/**
 * `imgbuild build` of a 1 GiB /usr image into a raw flatcar-2025 image (2 GiB slots), against the
 * verity computation alone on the same bytes (`imgbuild verity format`), alternated; and, where it is
 * installed, systemd-repart building usr + usr-verity partitions from the same bytes in the same run.
 * Targets: build ≤ 1.5x verity alone; ≥ 5x faster than systemd-repart.
 * BENCH_ROUNDS (default 3); BENCH_BUILD_GIB (default 1).
 */
import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const title = 'build: imgbuild build vs verity alone (vs systemd-repart where installed)';

const MiB = 2 ** 20;

/** Random bytes behind a squashfs magic: the build checks the magic, verity hashes every byte. */
function fakeSquashfs(path, size) {
  const fd = openSync(path, 'w');
  const buf = Buffer.allocUnsafe(16 * MiB);
  try {
    for (let at = 0; at < size; at += buf.length) {
      randomFillSync(buf);
      if (at === 0) buf.write('hsqs', 0, 'latin1');
      writeSync(fd, buf, 0, Math.min(buf.length, size - at), at);
    }
  } finally {
    closeSync(fd);
  }
}

function fakeKernel(path) {
  const k = Buffer.alloc(1 * MiB);
  randomFillSync(k);
  k.writeUInt16LE(0xaa55, 0x1fe);
  k.write('HdrS', 0x202, 'latin1');
  k.writeUInt16LE(0x020f, 0x206); // boot protocol 2.15
  k.writeUInt32LE(2047, 0x238); // cmdline_size
  writeFileSync(path, k);
}

function digestFloor(bytes) {
  const zeros = Buffer.alloc(8 * MiB);
  const t = process.hrtime.bigint();
  const h = createHash('sha256');
  for (let at = 0; at < bytes; at += zeros.length) h.update(zeros.subarray(0, Math.min(zeros.length, bytes - at)));
  h.digest();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

function which(cmd, timeRun) {
  try {
    timeRun('sh', ['-c', `command -v ${cmd}`]);
    return true;
  } catch {
    return false;
  }
}

export async function run({ cli, dir, timeRun, median, log }) {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const size = Number(process.env.BENCH_BUILD_GIB ?? 1) * 1024 * MiB;
  const usr = join(dir, 'usr.squashfs');
  const kernel = join(dir, 'vmlinuz');
  const initrd = join(dir, 'initrd');
  fakeSquashfs(usr, size);
  fakeKernel(kernel);
  writeFileSync(initrd, Buffer.alloc(MiB, 1));
  const img = join(dir, 'image.raw');
  const hash = join(dir, 'usr.hash');
  const t = { build: [], verity: [], repart: [], digest: [] };
  let hasRepart = which('systemd-repart', timeRun);
  let repartError = '';
  for (let i = 0; i < rounds; i++) {
    rmSync(img, { force: true });
    rmSync(`${img}.manifest.json`, { force: true });
    rmSync(hash, { force: true });
    t.verity.push(timeRun('node', [cli, 'verity', 'format', usr, hash, '--salt', '11'.repeat(32)]).secs);
    t.build.push(timeRun('node', [cli, 'build', '--from', usr, '--kernel', kernel, '--initrd', initrd, '--layout', 'flatcar-2025', '--seed', 'bench', '-o', img]).secs);
    // The manifest carries the whole image's sha256: hashing that many bytes (even from memory) is a
    // floor no build can go under.
    t.digest.push(digestFloor(statSync(img).size));
    if (hasRepart) {
      const defs = join(dir, 'repart.d');
      if (!existsSync(defs)) {
        mkdirSync(defs);
        writeFileSync(join(defs, '10-usr.conf'), `[Partition]\nType=usr\nCopyBlocks=${usr}\nVerity=data\nVerityMatchKey=usr\n`);
        writeFileSync(join(defs, '20-usr-verity.conf'), `[Partition]\nType=usr-verity\nVerity=hash\nVerityMatchKey=usr\n`);
      }
      const disk = join(dir, 'repart.raw');
      rmSync(disk, { force: true });
      try {
        t.repart.push(timeRun('systemd-repart', ['--empty=create', '--size=auto', `--definitions=${defs}`, '--seed=0e9b3ad4-5b9a-4b7e-a0ea-3f7c4cc8b17a', '--dry-run=no', disk]).secs);
      } catch (e) {
        // repart formats verity through loop devices, which some sandboxes do not offer
        hasRepart = false;
        repartError = String(e.message).trim().split('\n').filter(Boolean).slice(-2).join(' / ');
      }
      rmSync(disk, { force: true });
    }
  }
  const b = median(t.build);
  const v = median(t.verity);
  log(`input ${size / MiB} MiB, ${rounds} rounds (medians)`);
  log(`  imgbuild build (raw, flatcar-2025)  ${b.toFixed(2)} s`);
  log(`  imgbuild verity format alone        ${v.toFixed(2)} s`);
  log(`  build / verity alone                ${(b / v).toFixed(2)}x   (target ≤ 1.5x)`);
  const d = median(t.digest);
  log(`  sha256 of as many bytes from memory ${d.toFixed(2)} s   (the manifest's whole-image digest: a floor for any build)`);
  log(`  build minus that floor / verity     ${((b - d) / v).toFixed(2)}x`);
  if (hasRepart) {
    const r = median(t.repart);
    log(`  systemd-repart usr + usr-verity     ${r.toFixed(2)} s`);
    log(`  systemd-repart / imgbuild build     ${(r / b).toFixed(2)}x   (target ≥ 5x)`);
  } else if (repartError) {
    log(`  systemd-repart: failed on this machine (${repartError}); no comparison`);
  } else {
    log('  systemd-repart: not installed (apt-get install systemd-repart on Debian 13, or systemd on 12), skipped');
  }
}
