/**
 * dm-verity: `imgbuild verity format` / `verity-verify` against `veritysetup format` / `verify` on the
 * same 1 GiB of random data (4096/4096, sha256, same salt and uuid, separate hash files), with the
 * floors measured in this run on this machine (hack/bench/lib/floor.mjs):
 *   - floor: OpenSSL's own sha256 per 4096/4128-byte block (`openssl speed`), node's crypto.hash and
 *     createHash per block on one thread, a plain vectored read per block; the engine's CPU per block
 *     (in this process, --jobs 1) and its efficiency = node's floor / engine CPU per block;
 *   - start-up: `node -e 0` against `imgbuild --version`, `imgbuild verity format` and `verity-verify`
 *     of a 64 KiB file (N interleaved rounds: median, best, median difference from node);
 *   - end to end: veritysetup, the CLI, and the engine alone (formatVerity/verifyVerity called in this
 *     process, no start-up), alternated so machine noise hits all three; ratios against veritysetup;
 *   - a --jobs sweep from 1 to the number of cores (engine alone): wall, speed-up, speed-up per thread;
 *   - a 4 GiB input (sparse: 1 GiB of random data in four 256 MiB extents) for the peak RSS.
 * BENCH_ROUNDS (default 5) rounds; BENCH_VERITY_GIB (default 1) for the first file; BENCH_STARTUP_RUNS (21).
 */
import { randomFillSync } from 'node:crypto';
import { closeSync, ftruncateSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cpuNow, engineLoop, nodeFloor, opensslPerBlock, readFloor, startupPaired } from './lib/floor.mjs';

export const title = 'dm-verity: imgbuild vs veritysetup, against the floor';

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

/** The engine alone, in this process: wall and CPU (all threads) of one formatVerity/verifyVerity call. */
async function inProcess(fn) {
  const c = cpuNow();
  const t = process.hrtime.bigint();
  const r = await fn();
  return { secs: Number(process.hrtime.bigint() - t) / 1e9, cpu: cpuNow() - c, result: r };
}

const rootOf = (out) => /Root hash:\s+([0-9a-f]+)/.exec(out)?.[1];
const f2 = (x) => x.toFixed(2);
const f3 = (x) => x.toFixed(3);

export async function run({ root, cli, dir, timeRun, median, log }) {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
  const gib = Number(process.env.BENCH_VERITY_GIB ?? 1);
  const startupRuns = Number(process.env.BENCH_STARTUP_RUNS ?? 21);
  const cores = availableParallelism();
  const size = gib * 1024 * MiB;
  const blocks = size / 4096;
  const core = await import(pathToFileURL(join(root, 'packages/core/dist/verity/index.js')).href);
  const salt = Buffer.from(SALT, 'hex');

  const data = join(dir, 'data.img');
  fillRandom(data, [[0, size]], size);
  settle(timeRun, data);
  const theirs = join(dir, 'theirs.hash');
  const ours = join(dir, 'ours.hash');
  const engineHash = join(dir, 'engine.hash');
  const us = (x) => `${x.toFixed(2)} µs`;

  // 1. The floor, this process, this machine, this run (CPU time per 4 KiB block, one thread).
  const ossl4096 = opensslPerBlock(4096);
  const ossl4128 = opensslPerBlock(4128);
  const nf = nodeFloor(4096, salt);
  const floor = Math.min(nf.hashLatin1, nf.hashBuffer, nf.createHash);
  const floorName = floor === nf.hashLatin1 ? "crypto.hash(…, 'latin1')" : floor === nf.hashBuffer ? "crypto.hash(…, 'buffer')" : 'createHash';
  const loop = engineLoop(core.TreeHasher, 4096, salt);
  const read = readFloor(data, blocks, 4096, 32);
  const load = () => loadavg()[0].toFixed(1);
  log(`load average at the start: ${load()} on ${cores} cores (above ~0.5 others are running: wall times and ratios move, CPU per block much less)`);
  log(`floor (CPU per 4 KiB block, one thread, in this run):`);
  log(`  openssl speed -evp sha256: ${ossl4096 ? us(ossl4096) : 'n/a'} per 4096 B (${ossl4096 ? f2(4096 / ossl4096 / 1e3) : '?'} GB/s), ${ossl4128 ? us(ossl4128) : 'n/a'} per 4128 B  [OpenSSL's own floor]`);
  log(`  node on a 4128-byte [salt|block] view: crypto.hash latin1 ${us(nf.hashLatin1)}, crypto.hash buffer ${us(nf.hashBuffer)}, createHash ${us(nf.createHash)}; node floor = ${us(floor)} (${floorName}), ${ossl4128 ? f2(floor / ossl4128) : '?'}x OpenSSL`);
  log(`  engine hashing loop (TreeHasher.digestBatch, no I/O): ${us(loop)} = ${f2(loop / floor)}x node floor;  vectored read into [salt|block] slots (page cache): ${us(read)}`);

  // 2. Start-up: medians of N runs, against bare node.
  const tiny = join(dir, 'tiny.img');
  fillRandom(tiny, [[0, 64 * 1024]], 64 * 1024);
  const tinyHash = join(dir, 'tiny.hash');
  const tinyRoot = rootOf(timeRun('node', [cli, 'verity', 'format', tiny, tinyHash, '--salt', SALT, '--uuid', UUID]).stdout);
  const [s0, sVer, sFmt, sVfy] = startupPaired(
    [
      ['node', '-e', '0'],
      ['node', cli, '--version'],
      ['node', cli, 'verity', 'format', tiny, tinyHash, '--salt', SALT, '--uuid', UUID, '--force'],
      ['node', cli, 'verity-verify', tiny, '--hash-file', tinyHash, '--root-hash', tinyRoot],
    ],
    startupRuns,
  );
  const plus = (s) => `${s.ms.toFixed(1)} ms (best ${s.best.toFixed(1)}; node +${s.overBase.toFixed(1)})`;
  log(`start-up, ${startupRuns} interleaved rounds, median (best; median difference from node -e 0): node -e 0 ${s0.ms.toFixed(1)} ms (best ${s0.best.toFixed(1)})`);
  log(`  imgbuild --version ${plus(sVer)}; verity format 64 KiB ${plus(sFmt)}; verity-verify 64 KiB ${plus(sVfy)}  [target: node +40 ms]`);

  // 3. End to end, alternating: veritysetup, the CLI, the engine alone in this process.
  const t = { vsFormat: [], ourFormat: [], engFormat: [], vsVerify: [], ourVerify: [], engVerify: [] };
  let rootHash;
  for (let i = 0; i < rounds; i++) {
    for (const f of [theirs, ours, engineHash]) rmSync(f, { force: true });
    const a = measured(timeRun, 'veritysetup', ['format', '--salt', SALT, '--uuid', UUID, data, theirs]);
    const b = measured(timeRun, 'node', [cli, 'verity', 'format', data, ours, '--salt', SALT, '--uuid', UUID]);
    const e = await inProcess(() => core.formatVerity({ dataPath: data, hashPath: engineHash, salt, uuid: UUID, jobs: cores }));
    t.vsFormat.push(a);
    t.ourFormat.push(b);
    t.engFormat.push(e);
    rootHash = rootOf(a.stdout);
    if (rootOf(b.stdout) !== rootHash || e.result.rootHash !== rootHash) throw new Error(`root hashes differ: veritysetup ${rootHash}, imgbuild ${rootOf(b.stdout)}, engine ${e.result.rootHash}`);
    if (i === 0 && !(readFileSync(theirs).equals(readFileSync(ours)) && readFileSync(theirs).equals(readFileSync(engineHash)))) throw new Error('hash areas differ');
    t.vsVerify.push(measured(timeRun, 'veritysetup', ['verify', data, theirs, rootHash]));
    t.ourVerify.push(measured(timeRun, 'node', [cli, 'verity-verify', data, '--hash-file', ours, '--root-hash', rootHash]));
    const v = await inProcess(() => core.verifyVerity({ dataPath: data, hashPath: ours, rootHash, jobs: cores }));
    if (!v.result.ok) throw new Error(`engine verify failed: ${v.result.message}`);
    t.engVerify.push(v);
  }
  const gbps = (s) => f2(size / s / 1e9);
  const med = (xs, k = 'secs') => median(xs.map((x) => x[k]));
  log(`\n${gib} GiB random data, 4096/4096 sha256, ${rounds} alternating rounds, ${cores} cores; medians of wall time (CPU = user+sys, all threads):`);
  const summary = {};
  for (const [name, vs, cl, en, st] of [
    ['format', t.vsFormat, t.ourFormat, t.engFormat, sFmt],
    ['verify', t.vsVerify, t.ourVerify, t.engVerify, sVfy],
  ]) {
    const mv = med(vs);
    const mc = med(cl);
    const me = med(en);
    const noStart = mc - st.ms / 1000; // minus the same command on 64 KiB: node, loading, set-up, exit
    const rE2e = mv / mc;
    const rEng = mv / me;
    log(`${name}  veritysetup ${f3(mv)} s (${gbps(mv)} GB/s, CPU ${f2(med(vs, 'cpu'))} s) | imgbuild CLI ${f3(mc)} s (${gbps(mc)} GB/s, CPU ${f2(med(cl, 'cpu'))} s) | engine alone ${f3(me)} s (${gbps(me)} GB/s, CPU ${f2(med(en, 'cpu'))} s)`);
    log(`        ratio vs veritysetup: end to end ${f2(rE2e)}x, CLI minus its start-up ${f2(mv / noStart)}x, engine alone ${f2(rEng)}x; end to end / engine alone = ${f2(rE2e / rEng)} [target ≥ 0.9]; best of ${rounds}: ${f2(Math.min(...vs.map((x) => x.secs)) / Math.min(...cl.map((x) => x.secs)))}x end to end`);
    summary[name] = { mv, mc, me, st: st.ms / 1000 };
  }
  // What end to end / engine alone ≥ 0.9 asks of the start-up: the CLI's wall minus the engine's is
  // node's own boot plus imgbuild's loading and exit; at most a ninth of the engine's time.
  for (const name of ['format', 'verify']) {
    const { mc, me } = summary[name];
    log(`${name}: CLI − engine alone = ${((mc - me) * 1000).toFixed(0)} ms (of which node -e 0: ${s0.ms.toFixed(0)} ms); end to end ≥ 0.9x engine alone needs ≤ ${((me / 9) * 1000).toFixed(0)} ms`);
  }
  log(`imgbuild peak RSS (${gib} GiB): format ${(Math.max(...t.ourFormat.map((x) => x.rssKiB)) / 1024).toFixed(0)} MiB, verify ${(Math.max(...t.ourVerify.map((x) => x.rssKiB)) / 1024).toFixed(0)} MiB`);

  // 4. Efficiency and the --jobs sweep: the engine alone in this process; CPU per block from all threads.
  log(`\n--jobs sweep (engine alone, format; wall: median of 3; CPU per block: best of 3, process CPU / ${blocks} blocks):`);
  const sweep = [];
  for (let j = 1; j <= cores; j++) {
    const xs = [];
    for (let r = 0; r < 3; r++) {
      rmSync(engineHash, { force: true });
      xs.push(await inProcess(() => core.formatVerity({ dataPath: data, hashPath: engineHash, salt, uuid: UUID, jobs: j })));
    }
    const w = median(xs.map((x) => x.secs));
    // Best of 3, as the floors are: the run least disturbed by other processes.
    const cpuPerBlock = (Math.min(...xs.map((x) => x.cpu)) / blocks) * 1e6;
    sweep.push({ j, w, cpuPerBlock });
    const speedup = sweep[0].w / w;
    log(`  --jobs ${j}: ${f3(w)} s (${gbps(w)} GB/s), ${f2(summary.format.mv / w)}x veritysetup, speed-up ${f2(speedup)}x, ${f2(speedup / j)} per thread; CPU ${us(cpuPerBlock)} per block = ${f2(cpuPerBlock / floor)}x node floor`);
  }
  const e1 = sweep[0].cpuPerBlock;
  log(`efficiency (jobs 1): node floor ${us(floor)} / engine ${us(e1)} = ${(floor / e1 * 100).toFixed(0)} % (engine = ${f2(e1 / floor)}x floor, target ≤ 1.15x); of the engine's ${us(e1)}: hashing loop ${us(loop)} (floor ${us(floor)} + ${us(loop - floor)} of slot bookkeeping), read ${us(read)}, the rest ${us(e1 - loop - read)} (hash-block writes, upper levels, fsync, set-up; measured apart, so ± a few hundredths)`);
  log(`engine vs floor + read (what no JavaScript can avoid): ${f2(e1 / (floor + read))}x`);
  // The ratio two idle cores would give, from CPU time alone (which other processes move much less
  // than wall time): veritysetup hashes on one thread; the engine spreads its blocks over the threads.
  const vsPerBlock = (median(t.vsFormat.map((x) => x.cpu)) / blocks) * 1e6;
  const eN = sweep[sweep.length - 1].cpuPerBlock;
  log(`from CPU time: veritysetup ${us(vsPerBlock)} per block on one thread; engine ${us(eN)} per block over ${cores} threads → on ${cores} idle cores ≈ ${f2(vsPerBlock / (eN / cores))}x veritysetup (engine alone; a perfect split of the same work)`);
  log(`load average at the end: ${load()}`);
  rmSync(data);
  for (const f of [theirs, ours, engineHash]) rmSync(f, { force: true });

  // 5. 4 GiB: peak RSS of our whole process (all worker threads included) for format and verify.
  const big = join(dir, 'big.img');
  const bigSize = 4096 * MiB;
  fillRandom(big, [0, 1, 2, 3].map((k) => [k * 1024 * MiB, 256 * MiB]), bigSize);
  settle(timeRun, big);
  const vsf = measured(timeRun, 'veritysetup', ['format', '--salt', SALT, '--uuid', UUID, big, theirs]);
  const bf = measured(timeRun, 'node', [cli, 'verity', 'format', big, ours, '--salt', SALT, '--uuid', UUID]);
  const broot = rootOf(bf.stdout);
  if (rootOf(vsf.stdout) !== broot) throw new Error('4 GiB root hashes differ');
  const bv = measured(timeRun, 'node', [cli, 'verity-verify', big, '--hash-file', ours, '--root-hash', broot]);
  const mib = (k) => (k / 1024).toFixed(0);
  log(`\n4 GiB sparse (1 GiB random in 4 extents, 3 GiB holes): imgbuild format ${f2(bf.secs)} s, peak RSS ${mib(bf.rssKiB)} MiB; verify ${f2(bv.secs)} s, peak RSS ${mib(bv.rssKiB)} MiB [target ≤ 160 MiB]; veritysetup format ${f2(vsf.secs)} s, peak RSS ${mib(vsf.rssKiB)} MiB`);
}
