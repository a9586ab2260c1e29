/**
 * dm-verity: `imgbuild verity format` / `verity-verify` against `veritysetup format` / `verify` on the
 * same 1 GiB of random data (4096/4096, sha256, same salt and uuid, separate hash files), alternated
 * so machine noise hits both; medians, throughput and the ratio. Then a 4 GiB input (sparse: 1 GiB of
 * random data in four 256 MiB extents, the rest holes) for the peak RSS of our process.
 * BENCH_ROUNDS (default 5) rounds; BENCH_VERITY_GIB (default 1) for the first file.
 */
import { randomFillSync } from 'node:crypto';
import { closeSync, openSync, readFileSync, rmSync, writeSync, ftruncateSync } from 'node:fs';
import { join } from 'node:path';

export const title = 'dm-verity: imgbuild vs veritysetup';

const SALT = '5a'.repeat(32);
const UUID = '0badc0de-1234-4567-89ab-cdef01234567';
const MiB = 2 ** 20;

function fillRandom(path, extents, size) {
  const fd = openSync(path, 'w');
  const buf = Buffer.allocUnsafe(16 * MiB);
  try {
    ftruncateSync(fd, size);
    for (const [at, len] of extents) {
      for (let done = 0; done < len; done += buf.length) {
        randomFillSync(buf);
        writeSync(fd, buf, 0, Math.min(buf.length, len - done), at + done);
      }
    }
  } finally {
    closeSync(fd);
  }
}

const rootOf = (out) => /Root hash:\s+([0-9a-f]+)/.exec(out)?.[1];
const maxRssKiB = (stderr) => Number(/MAXRSS=(\d+)/.exec(stderr)?.[1]);

export async function run({ cli, dir, timeRun, median, log }) {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
  const gib = Number(process.env.BENCH_VERITY_GIB ?? 1);
  const size = gib * 1024 * MiB;
  const data = join(dir, 'data.img');
  fillRandom(data, [[0, size]], size);
  readFileSync(data, { encoding: null, flag: 'r' }).length; // warm the page cache for both tools alike
  const theirs = join(dir, 'theirs.hash');
  const ours = join(dir, 'ours.hash');

  const t = { vsFormat: [], ourFormat: [], vsVerify: [], ourVerify: [], startup: [] };
  let root;
  for (let i = 0; i < rounds; i++) {
    rmSync(theirs, { force: true });
    rmSync(ours, { force: true });
    const a = timeRun('veritysetup', ['format', '--salt', SALT, '--uuid', UUID, data, theirs]);
    const b = timeRun('node', [cli, 'verity', 'format', data, ours, '--salt', SALT, '--uuid', UUID]);
    t.vsFormat.push(a.secs);
    t.ourFormat.push(b.secs);
    root = rootOf(a.stdout);
    if (rootOf(b.stdout) !== root) throw new Error(`root hashes differ: veritysetup ${root}, imgbuild ${rootOf(b.stdout)}`);
    if (i === 0 && !readFileSync(theirs).equals(readFileSync(ours))) throw new Error('hash areas differ');
    t.vsVerify.push(timeRun('veritysetup', ['verify', data, theirs, root]).secs);
    t.ourVerify.push(timeRun('node', [cli, 'verity-verify', data, '--hash-file', ours, '--root-hash', root]).secs);
    t.startup.push(timeRun('node', [cli, '--version']).secs);
  }
  const gbps = (s) => (size / s / 1e9).toFixed(2);
  const row = (name, vs, us) => {
    const mv = median(vs);
    const mu = median(us);
    log(`${name.padEnd(7)} veritysetup ${mv.toFixed(3)} s (${gbps(mv)} GB/s)   imgbuild ${mu.toFixed(3)} s (${gbps(mu)} GB/s)   ratio ${(mv / mu).toFixed(2)}x`);
    return { veritysetup: mv, imgbuild: mu, ratio: mv / mu };
  };
  log(`${gib} GiB random data, 4096/4096 sha256, ${rounds} alternating rounds, medians of wall time per command (imgbuild includes node start-up)`);
  const f = row('format', t.vsFormat, t.ourFormat);
  const v = row('verify', t.vsVerify, t.ourVerify);
  const su = median(t.startup);
  log(`imgbuild CLI start-up (imgbuild --version): ${su.toFixed(3)} s; without it: format ${(f.veritysetup / (f.imgbuild - su)).toFixed(2)}x, verify ${(v.veritysetup / (v.imgbuild - su)).toFixed(2)}x`);
  rmSync(data);
  rmSync(theirs, { force: true });
  rmSync(ours, { force: true });

  // 4 GiB: peak RSS of our whole process (all worker threads included) for format and verify.
  const big = join(dir, 'big.img');
  const bigSize = 4096 * MiB;
  fillRandom(big, [0, 1, 2, 3].map((k) => [k * 1024 * MiB, 256 * MiB]), bigSize);
  const rss = (args) => {
    const r = timeRun('/usr/bin/time', ['-f', 'MAXRSS=%M', 'node', cli, ...args]);
    return { secs: r.secs, rssMiB: maxRssKiB(r.stderr) / 1024, stdout: r.stdout };
  };
  const bf = rss(['verity', 'format', big, ours, '--salt', SALT, '--uuid', UUID]);
  const broot = rootOf(bf.stdout);
  const bv = rss(['verity-verify', big, '--hash-file', ours, '--root-hash', broot]);
  const vsf = timeRun('/usr/bin/time', ['-f', 'MAXRSS=%M', 'veritysetup', 'format', '--salt', SALT, '--uuid', UUID, big, theirs]);
  if (rootOf(vsf.stdout) !== broot) throw new Error('4 GiB root hashes differ');
  log(`4 GiB sparse (1 GiB random in 4 extents): imgbuild format ${bf.secs.toFixed(2)} s, peak RSS ${bf.rssMiB.toFixed(0)} MiB; verify ${bv.secs.toFixed(2)} s, peak RSS ${bv.rssMiB.toFixed(0)} MiB; veritysetup format ${vsf.secs.toFixed(2)} s, peak RSS ${(maxRssKiB(vsf.stderr) / 1024).toFixed(0)} MiB`);
}
