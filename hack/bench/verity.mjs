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

/** Flushes dirty pages (so write-back does not land in a timed run) and warms the page cache. */
function settle(timeRun, file) {
  timeRun('sync', []);
  timeRun('cat', [file], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Runs under /usr/bin/time: wall seconds, CPU seconds (user + sys) and peak RSS in KiB. */
function measured(timeRun, cmd, args) {
  const r = timeRun('/usr/bin/time', ['-f', 'TIME=%e %U %S %M', cmd, ...args]);
  const [, , user, sys, rss] = /TIME=(\S+) (\S+) (\S+) (\d+)/.exec(r.stderr);
  return { secs: r.secs, cpu: Number(user) + Number(sys), rssKiB: Number(rss), stdout: r.stdout };
}

const rootOf = (out) => /Root hash:\s+([0-9a-f]+)/.exec(out)?.[1];

export async function run({ cli, dir, timeRun, median, log }) {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
  const gib = Number(process.env.BENCH_VERITY_GIB ?? 1);
  const size = gib * 1024 * MiB;
  const data = join(dir, 'data.img');
  fillRandom(data, [[0, size]], size);
  settle(timeRun, data);
  const theirs = join(dir, 'theirs.hash');
  const ours = join(dir, 'ours.hash');

  const t = { vsFormat: [], ourFormat: [], vsVerify: [], ourVerify: [], startup: [] };
  let root;
  for (let i = 0; i < rounds; i++) {
    rmSync(theirs, { force: true });
    rmSync(ours, { force: true });
    const a = measured(timeRun, 'veritysetup', ['format', '--salt', SALT, '--uuid', UUID, data, theirs]);
    const b = measured(timeRun, 'node', [cli, 'verity', 'format', data, ours, '--salt', SALT, '--uuid', UUID]);
    t.vsFormat.push(a);
    t.ourFormat.push(b);
    root = rootOf(a.stdout);
    if (rootOf(b.stdout) !== root) throw new Error(`root hashes differ: veritysetup ${root}, imgbuild ${rootOf(b.stdout)}`);
    if (i === 0 && !readFileSync(theirs).equals(readFileSync(ours))) throw new Error('hash areas differ');
    t.vsVerify.push(measured(timeRun, 'veritysetup', ['verify', data, theirs, root]));
    t.ourVerify.push(measured(timeRun, 'node', [cli, 'verity-verify', data, '--hash-file', ours, '--root-hash', root]));
    t.startup.push(measured(timeRun, 'node', [cli, '--version']));
  }
  const gbps = (s) => (size / s / 1e9).toFixed(2);
  const min = (xs) => Math.min(...xs);
  const row = (name, vs, us) => {
    const mv = median(vs.map((x) => x.secs));
    const mu = median(us.map((x) => x.secs));
    log(`${name.padEnd(7)} veritysetup ${mv.toFixed(3)} s (${gbps(mv)} GB/s)   imgbuild ${mu.toFixed(3)} s (${gbps(mu)} GB/s)   ratio ${(mv / mu).toFixed(2)}x`);
    const bv = min(vs.map((x) => x.secs));
    const bu = min(us.map((x) => x.secs));
    log(`${''.padEnd(7)} best: veritysetup ${bv.toFixed(3)} s, imgbuild ${bu.toFixed(3)} s, ratio ${(bv / bu).toFixed(2)}x;  CPU (user+sys, median): veritysetup ${median(vs.map((x) => x.cpu)).toFixed(2)} s, imgbuild ${median(us.map((x) => x.cpu)).toFixed(2)} s`);
    return { veritysetup: mv, imgbuild: mu, ratio: mv / mu };
  };
  log(`${gib} GiB random data, 4096/4096 sha256, ${rounds} alternating rounds, medians of wall time per command (imgbuild includes node start-up)`);
  const f = row('format', t.vsFormat, t.ourFormat);
  const v = row('verify', t.vsVerify, t.ourVerify);
  const su = median(t.startup.map((x) => x.secs));
  log(`imgbuild CLI start-up (imgbuild --version): ${su.toFixed(3)} s; without it: format ${(f.veritysetup / (f.imgbuild - su)).toFixed(2)}x, verify ${(v.veritysetup / (v.imgbuild - su)).toFixed(2)}x`);
  log(`imgbuild peak RSS: format ${(Math.max(...t.ourFormat.map((x) => x.rssKiB)) / 1024).toFixed(0)} MiB, verify ${(Math.max(...t.ourVerify.map((x) => x.rssKiB)) / 1024).toFixed(0)} MiB`);
  rmSync(data);
  rmSync(theirs, { force: true });
  rmSync(ours, { force: true });

  // 4 GiB: peak RSS of our whole process (all worker threads included) for format and verify.
  const big = join(dir, 'big.img');
  const bigSize = 4096 * MiB;
  fillRandom(big, [0, 1, 2, 3].map((k) => [k * 1024 * MiB, 256 * MiB]), bigSize);
  settle(timeRun, big);
  rmSync(ours, { force: true });
  rmSync(theirs, { force: true });
  const vsf = measured(timeRun, 'veritysetup', ['format', '--salt', SALT, '--uuid', UUID, big, theirs]);
  const bf = measured(timeRun, 'node', [cli, 'verity', 'format', big, ours, '--salt', SALT, '--uuid', UUID]);
  const broot = rootOf(bf.stdout);
  if (rootOf(vsf.stdout) !== broot) throw new Error('4 GiB root hashes differ');
  const bv = measured(timeRun, 'node', [cli, 'verity-verify', big, '--hash-file', ours, '--root-hash', broot]);
  const mib = (k) => (k / 1024).toFixed(0);
  log(`4 GiB sparse (1 GiB random in 4 extents, 3 GiB holes): imgbuild format ${bf.secs.toFixed(2)} s, peak RSS ${mib(bf.rssKiB)} MiB; verify ${bv.secs.toFixed(2)} s, peak RSS ${mib(bv.rssKiB)} MiB; veritysetup format ${vsf.secs.toFixed(2)} s, peak RSS ${mib(vsf.rssKiB)} MiB`);
}
