/**
 * Floors for the dm-verity bench, measured in the bench's own process on this machine in this run:
 * what OpenSSL itself, node's hash APIs, a plain read and the engine's hashing loop cost per 4 KiB
 * block, in CPU time (user + sys), so a busy machine (other processes holding a core) moves them less
 * than wall time. The bench divides by these to say how close the engine is to node's floor.
 * (In hack/bench/lib/ so hack/bench.mjs does not run it as a section.)
 */
import { spawnSync } from 'node:child_process';
import { createHash, hash as oneShot, randomFillSync } from 'node:crypto';
import { closeSync, openSync, readvSync } from 'node:fs';

const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** Best (lowest) of `rounds` CPU-second measurements of fn, divided by `per`, in µs. */
function bestCpu(fn, per, rounds = 3) {
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const c = cpuNow();
    fn();
    best = Math.min(best, cpuNow() - c);
  }
  return (best / per) * 1e6;
}

/**
 * `openssl speed -evp sha256 -bytes N` (single process, CPU-time based): µs per N-byte input, or null
 * when openssl is missing. -mr gives `+F:<n>:sha256:<bytes per second>`.
 */
export function opensslPerBlock(bytes, seconds = 2) {
  const r = spawnSync('openssl', ['speed', '-mr', '-seconds', String(seconds), '-bytes', String(bytes), '-evp', 'sha256'], { encoding: 'utf8' });
  const m = /^\+F:\d+:[^:]+:([\d.]+)/m.exec(r.stdout ?? '');
  return m ? (bytes / Number(m[1])) * 1e6 : null;
}

/** A batch laid out as the engine's: `count` entries of [salt | block], random blocks. */
export function saltedBatch(count, blockSize, salt) {
  const stride = blockSize + salt.length;
  const buf = Buffer.allocUnsafe(count * stride);
  randomFillSync(buf);
  const inputs = [];
  for (let i = 0; i < count; i++) {
    salt.copy(buf, i * stride);
    inputs.push(buf.subarray(i * stride, (i + 1) * stride));
  }
  return { buf, inputs, stride };
}

/**
 * node's per-block floor on one thread, over 64 MiB of [salt|block] views made beforehand (no I/O, no
 * allocation but the digest): crypto.hash with a latin1 string or a Buffer result, and createHash.
 */
export function nodeFloor(blockSize = 4096, salt = Buffer.alloc(32, 0x5a)) {
  const count = Math.floor((64 << 20) / blockSize);
  const { inputs } = saltedBatch(count, blockSize, salt);
  const each = (f) => () => {
    for (let i = 0; i < count; i++) f(inputs[i]);
  };
  return {
    hashLatin1: bestCpu(each((v) => oneShot('sha256', v, 'latin1')), count),
    hashBuffer: bestCpu(each((v) => oneShot('sha256', v, 'buffer')), count),
    createHash: bestCpu(each((v) => createHash('sha256').update(v).digest()), count),
  };
}

/**
 * The engine's own hashing loop (TreeHasher.digestBatch from the build) over the same kind of batch:
 * everything the engine does per block except reading it.
 */
export function engineLoop(TreeHasher, blockSize = 4096, salt = Buffer.alloc(32, 0x5a)) {
  const hasher = new TreeHasher({ hash: 'sha256', hashType: 1, hashBlockSize: 4096, salt });
  const per = 256;
  const batch = hasher.newBatch(per, blockSize);
  randomFillSync(batch.buf);
  for (let i = 0; i < per; i++) salt.copy(batch.buf, i * batch.stride);
  const out = Buffer.alloc((per / hasher.perBlock) * 4096 + 4096);
  const reps = Math.floor((64 << 20) / blockSize / per);
  return bestCpu(() => {
    for (let r = 0; r < reps; r++) hasher.digestBatch(batch, per, out, 0);
  }, reps * per);
}

/**
 * Reading `path` the engine's way (vectored reads of 256 blocks straight into the block parts of a
 * [salt|block] batch), nothing hashed: µs of CPU per block. The page cache should be warm.
 */
export function readFloor(path, blocks, blockSize = 4096, saltLen = 32) {
  const per = 256;
  const { buf, stride } = saltedBatch(per, blockSize, Buffer.alloc(saltLen));
  const views = [];
  for (let i = 0; i < per; i++) views.push(buf.subarray(i * stride + saltLen, (i + 1) * stride));
  const fd = openSync(path, 'r');
  try {
    return bestCpu(() => {
      for (let b = 0; b < blocks; b += per) readvSync(fd, b + per <= blocks ? views : views.slice(0, blocks - b), b * blockSize);
    }, blocks, 2);
  } finally {
    closeSync(fd);
  }
}

/**
 * Start-up: wall milliseconds of short commands, interleaved (one run of each per round, the order
 * rotated every round) so that other processes' load hits every command alike; per command the
 * median and the best run, and the median of its per-round difference from the first command (the
 * baseline, `node -e 0`). A plain loop rather than hyperfine: hyperfine times one command after the
 * other, and on a machine shared with qemu runs the load moves between them.
 */
export function startupPaired(cmds, runs = 21, warmup = 2) {
  const times = cmds.map(() => []);
  for (let r = 0; r < runs + warmup; r++) {
    for (let k = 0; k < cmds.length; k++) {
      const i = (k + r) % cmds.length;
      const [cmd, ...args] = cmds[i];
      const t = process.hrtime.bigint();
      const p = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      if (p.status !== 0) throw new Error(`${cmds[i].join(' ')} exited ${p.status}: ${p.stderr}`);
      if (r >= warmup) times[i].push(Number(process.hrtime.bigint() - t) / 1e6);
    }
  }
  const med = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  return times.map((xs) => ({ ms: med(xs), best: Math.min(...xs), overBase: med(xs.map((x, r) => x - times[0][r])) }));
}

export { cpuNow };
