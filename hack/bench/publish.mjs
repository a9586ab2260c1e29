/**
 * `imgbuild publish` of a 1 GiB /usr (version 2) for a base image whose slots are named by version
 * (the sysupdate layout's partitions with 2 GiB slots, as flatcar-2025's), against its floor measured
 * in the same rounds: what the reference tools take for the same work, one after the other:
 *   - `imgbuild verity format` of the /usr (verity alone, as in the build/update section);
 *   - `dd` of the /usr into a new file, flushed (the slot's bytes written, as update writes them);
 *   - `gzip -1 -n` of the payload's uncompressed bytes (the slot from byte 0 to the end of its hash
 *     area) into a file: publish's codec is deflate level 1 in a gzip wrapper (node's zlib), and
 *     GNU gzip -1 is the same format at the same level.
 * Target: publish ≤ 1.5x that floor. Beside it, a stricter one: the same with node's own zlib at
 * level 1 compressing the payload file (`node -e`, the codec publish runs, which is much faster than
 * GNU gzip on the zeros between the /usr and its hash area).
 * BENCH_ROUNDS (default 3); BENCH_PUBLISH_GIB (default 1).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { f2, fakeKernel, fakeSquashfs, kernelCopy, measured, MiB, pageReportingLine } from './lib/image.mjs';

export const title = 'publish: imgbuild publish vs verity alone + dd + gzip -1 of the same bytes';

const KEY = 'bench@imgbuild.invalid';

/** node:zlib's gzip at level 1 from file $1 to file $2, with publish's stream options (feed/publish.ts). */
const NODE_GZIP = `const [src, dst] = process.argv.slice(1);
const { createReadStream, createWriteStream } = require('node:fs');
const gzip = require('node:zlib').createGzip({ level: 1, chunkSize: 1 << 20, writableHighWaterMark: 8 << 20 });
require('node:stream/promises').pipeline(createReadStream(src, { highWaterMark: 1 << 20 }), gzip, createWriteStream(dst));`;

/** The sysupdate layout's partitions, 2 GiB slots. */
function versionedLayout(path) {
  const p = (number, label, type, size, role, extra = {}) => ({ number, label, type, size, role, ...extra });
  writeFileSync(
    path,
    JSON.stringify({
      name: 'bench-sysupdate-2g',
      sectorSize: 512,
      alignment: '2MiB',
      diskSize: 'auto',
      partitions: [
        p(1, 'EFI-SYSTEM', 'efi', '128MiB', 'esp'),
        p(3, 'imgbuild_@v', 'flatcar-usr', '2GiB', 'usr-slot', { attributes: { priority: 1, successful: true, readOnly: true } }),
        p(4, '_empty', 'flatcar-usr', '2GiB', 'usr-slot'),
        p(9, 'ROOT', 'flatcar-resize', '256MiB', 'root'),
      ],
    }),
  );
}

function run1(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

async function sha256Of(path) {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * MiB })) h.update(chunk);
  return h.digest('hex');
}

export async function run({ cli, dir, timeRun, median, log }) {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const size = Number(process.env.BENCH_PUBLISH_GIB ?? 1) * 1024 * MiB;
  const base = join(dir, 'base.raw');
  const kernel = join(dir, 'vmlinuz');
  const initrd = join(dir, 'initrd');
  const usr1 = join(dir, 'usr-1.squashfs');
  const usr2 = join(dir, 'usr-2.squashfs');
  const layout = join(dir, 'layout.json');
  const gnupg = join(dir, 'gnupg');
  fakeKernel(kernel);
  writeFileSync(initrd, Buffer.alloc(MiB, 1));
  fakeSquashfs(dir, usr1, 0, 'ID=bench\nVERSION_ID=1\nIMAGE_VERSION=1\n');
  fakeSquashfs(dir, usr2, size, 'ID=bench\nVERSION_ID=2\nIMAGE_VERSION=2\n');
  versionedLayout(layout);
  run1('node', [cli, 'build', '--from', usr1, '--kernel', kernel, '--initrd', initrd, '--layout', layout, '--seed', 'bench', '-o', base]);
  mkdirSync(gnupg, { mode: 0o700 });
  run1('gpg', ['--batch', '--homedir', gnupg, '--passphrase', '', '--quick-gen-key', `bench <${KEY}>`, 'ed25519', 'sign', 'never']);
  const feed = join(dir, 'feed');
  const publishArgs = [cli, 'publish', feed, '--channel', 'stable', '--base', base, '--from', usr2, '--gpg-key', KEY, '--gpg-homedir', gnupg, '--json'];
  const publish = () => {
    rmSync(feed, { recursive: true, force: true });
    const r = measured(timeRun, 'node', publishArgs);
    return { ...r, result: JSON.parse(r.stdout) };
  };
  try {
    // One publish before the rounds: its payload, unpacked, is what gzip -1 compresses in them.
    const first = publish().result;
    const channel = join(feed, 'stable');
    const manifest = JSON.parse(readFileSync(join(channel, first.files.manifest), 'utf8'));
    const raw = join(dir, 'payload.raw');
    run1('sh', ['-c', 'gzip -dc "$1" > "$2"', 'sh', join(channel, first.files.payload), raw]);
    if ((await sha256Of(raw)) !== manifest.payload.uncompressedSha256) throw new Error('the payload does not unpack to the bytes its manifest names');
    const gz = join(dir, 'reference.gz');
    const usrHash = join(dir, 'usr.hash');
    const copyTo = join(dir, 'copy.raw');
    const t = { verity: [], copy: [], gzip: [], zlib: [], publish: [] };
    let last = first;
    log(`load average at the start: ${loadavg()[0].toFixed(1)}`);
    for (let i = 0; i < rounds; i++) {
      rmSync(usrHash, { force: true });
      t.verity.push(measured(timeRun, 'node', [cli, 'verity', 'format', usr2, usrHash, '--salt', '-']));
      t.copy.push(kernelCopy(timeRun, usr2, copyTo));
      rmSync(gz, { force: true });
      t.gzip.push(measured(timeRun, 'sh', ['-c', 'gzip -1 -n -c "$1" > "$2"', 'sh', raw, gz]));
      t.zlib.push(measured(timeRun, 'node', ['-e', NODE_GZIP, raw, `${gz}.node`]));
      rmSync(`${gz}.node`);
      const p = publish();
      if (p.result.rootHash !== first.rootHash) throw new Error(`root hash changed between publishes: ${first.rootHash}, ${p.result.rootHash}`);
      t.publish.push(p);
      last = p.result;
    }
    const med = (k, f = 'secs') => median(t[k].map((x) => x[f]));
    const floor = med('verity') + med('copy') + med('gzip');
    const cpuFloor = med('verity', 'cpu') + med('copy', 'cpu') + med('gzip', 'cpu');
    const line = (name, k) => `  ${name.padEnd(44)} ${f2(med(k))} s (CPU ${f2(med(k, 'cpu'))} s, peak RSS ${Math.round(Math.max(...t[k].map((x) => x.rssMiB)))} MiB)`;
    log(`${size / MiB} MiB /usr into 2 GiB versioned slots (payload ${last.payloadUncompressedBytes} bytes before gzip), ${rounds} alternating rounds, medians (wall; CPU = user + sys):`);
    log(line('imgbuild verity format --salt - (reference)', 'verity'));
    log(line('dd if=USR of=NEWFILE bs=4M conv=fdatasync', 'copy'));
    log(line('gzip -1 -n of the payload bytes', 'gzip'));
    log(`  floor = verity alone + dd + gzip -1 = ${f2(floor)} s (CPU ${f2(cpuFloor)} s)`);
    log(line("node:zlib gzip level 1 of the same bytes", 'zlib'));
    const strict = floor - med('gzip') + med('zlib');
    const cpuStrict = cpuFloor - med('gzip', 'cpu') + med('zlib', 'cpu');
    log(`  stricter floor = verity alone + dd + node:zlib level 1 = ${f2(strict)} s (CPU ${f2(cpuStrict)} s)`);
    log(`${line('imgbuild publish', 'publish')}  ${f2(med('publish') / floor)}x the floor (CPU ${f2(med('publish', 'cpu') / cpuFloor)}x)   [target ≤ 1.5x]; ${f2(med('publish') / strict)}x the stricter one (CPU ${f2(med('publish', 'cpu') / cpuStrict)}x)`);
    log(`  payload ${last.payloadBytes} bytes (gzip -1: ${statSync(gz).size}; the /usr: ${size}); root hash ${last.rootHash}`);
    const reporting = pageReportingLine();
    if (reporting) log(reporting);
    log(`load average at the end: ${loadavg()[0].toFixed(1)}`);
  } finally {
    spawnSync('gpgconf', ['--homedir', gnupg, '--kill', 'gpg-agent']);
  }
}
