/**
 * `imgbuild build` of a 1 GiB /usr image into a raw flatcar-2025 image (8 GiB sparse disk, 2 GiB
 * slots) and `imgbuild update` of that image, each against the verity computation alone on the same
 * bytes (`imgbuild verity format`), alternated in one run; then a 4 GiB /usr into a layout with 8 GiB
 * slots (ratio and peak RSS); and, where it runs, systemd-repart building usr + usr-verity partitions
 * from the same bytes. Beside them, in the same rounds, `dd` of the /usr into a new file, flushed: the
 * writing a build must do and verity alone does not.
 * Targets: build ≤ 1.5x verity alone, update ≤ 1.5x, 4 GiB the same with peak RSS ≤ 160 MiB.
 * BENCH_ROUNDS (default 3); BENCH_BUILD_GIB (default 1); BENCH_BIG_GIB (default 4, 0 skips it).
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { f2, fakeKernel, fakeSquashfs, kernelCopy, measured, MiB, pageReportingLine } from './lib/image.mjs';

export const title = 'build and update: imgbuild build/update vs verity alone (vs systemd-repart where it runs)';

/** A layout like flatcar-2025 with larger slots. */
function bigLayout(path, slotGiB) {
  const p = (number, label, type, size, role, extra = {}) => ({ number, label, type, size, role, ...extra });
  writeFileSync(
    path,
    JSON.stringify({
      name: `bench-${slotGiB}g-slots`,
      sectorSize: 512,
      alignment: '2MiB',
      diskSize: 'auto',
      partitions: [
        p(1, 'EFI-SYSTEM', 'efi', '256MiB', 'esp'),
        p(3, 'USR-A', 'flatcar-usr', `${slotGiB}GiB`, 'usr-slot', {
          uuid: '7130c94a-213a-4e5a-8e26-6cce9662f132',
          attributes: { priority: 1, successful: true },
        }),
        p(4, 'USR-B', 'flatcar-usr', `${slotGiB}GiB`, 'usr-slot', { uuid: 'e03dd35c-7c2d-4a47-b3fe-27f15780a57c' }),
        p(9, 'ROOT', 'flatcar-resize', '2GiB', 'root'),
      ],
    }),
  );
}

/** The build against verity alone plus the kernel's copy: the two one after the other. */
function copyLine(t, med, v) {
  const c = med(t.copy, 'secs');
  const b = med(t.build, 'secs');
  const u = med(t.update, 'secs');
  const cpu = (k) => med(t[k], 'cpu');
  return (
    `  dd if=USR of=NEWFILE bs=4M conv=fdatasync (the writing and flushing verity alone does not do) ${f2(c)} s (CPU ${f2(cpu('copy'))} s);` +
    ` verity alone + dd = ${f2(v + c)} s: build ${f2(b / (v + c))}x, update ${f2(u / (v + c))}x of it;` +
    ` CPU: build ${f2(cpu('build'))} s, update ${f2(cpu('update'))} s against verity ${f2(cpu('verity'))} s + dd ${f2(cpu('copy'))} s = ${f2(cpu('verity') + cpu('copy'))} s` +
    `\n  the same dd right after each update: ${f2(med(t.copyAfter, 'secs'))} s (CPU ${f2(cpu('copyAfter'))} s)`
  );
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
  fakeSquashfs(dir, usr, size);
  fakeKernel(kernel);
  writeFileSync(initrd, Buffer.alloc(MiB, 1));
  const img = join(dir, 'image.raw');
  const hash = join(dir, 'usr.hash');
  const salt = '11'.repeat(32);
  const t = { build: [], update: [], verity: [], repart: [], copy: [], copyAfter: [] };
  const copyTo = join(dir, 'copy.raw');
  let hasRepart = which('systemd-repart', timeRun);
  let repartError = '';
  log(`load average at the start: ${loadavg()[0].toFixed(1)}`);
  const buildArgs = (u, out, layout) => [cli, 'build', '--from', u, '--kernel', kernel, '--initrd', initrd, '--layout', layout, '--seed', 'bench', '-o', out];
  /** One round, in this order: verity alone, dd, build, update, dd again (see copyLine). */
  const round = (into, from, out, layout) => {
    rmSync(out, { force: true });
    rmSync(`${out}.manifest.json`, { force: true });
    rmSync(hash, { force: true });
    into.verity.push(measured(timeRun, 'node', [cli, 'verity', 'format', from, hash, '--salt', salt]));
    into.copy.push(kernelCopy(timeRun, from, copyTo));
    into.build.push(measured(timeRun, 'node', buildArgs(from, out, layout)));
    into.update.push(measured(timeRun, 'node', [cli, 'update', out, '--from', from]));
    into.copyAfter.push(kernelCopy(timeRun, from, copyTo));
  };
  const med = (xs, k) => median(xs.map((x) => x[k]));
  /** A median line: wall, CPU, peak RSS and the ratio to `ref` seconds. */
  const line = (name, xs, ref) => {
    const w = med(xs, 'secs');
    return `  ${name.padEnd(36)} ${f2(w)} s (CPU ${f2(med(xs, 'cpu'))} s, peak RSS ${Math.round(Math.max(...xs.map((x) => x.rssMiB)))} MiB)  ${f2(w / ref)}x verity alone`;
  };
  for (let i = 0; i < rounds; i++) {
    round(t, usr, img, 'flatcar-2025');
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
        t.repart.push(
          timeRun('systemd-repart', [
            '--empty=create',
            '--size=auto',
            `--definitions=${defs}`,
            '--seed=0e9b3ad4-5b9a-4b7e-a0ea-3f7c4cc8b17a',
            '--dry-run=no',
            disk,
          ]).secs,
        );
      } catch (e) {
        // repart formats verity through loop devices, which some sandboxes do not offer
        hasRepart = false;
        repartError = String(e.message).trim().split('\n').filter(Boolean).slice(-1).join(' / ');
      }
      rmSync(disk, { force: true });
    }
  }
  const v = med(t.verity, 'secs');
  log(`${size / MiB} MiB /usr, ${rounds} alternating rounds, medians (wall; CPU = user + sys of the process and its threads and children):`);
  log(line('imgbuild verity format (reference)', t.verity, v));
  log(line('imgbuild build (raw, flatcar-2025)', t.build, v) + '   [target ≤ 1.5x]');
  log(line('imgbuild update (raw)', t.update, v) + '   [target ≤ 1.5x]');
  const m = JSON.parse(readFileSync(`${img}.manifest.json`, 'utf8'));
  log(copyLine(t, med, v));
  const reporting = pageReportingLine();
  if (reporting) log(reporting);
  log(`  image digest ${m.image.digest?.algorithm}: ${m.image.digest?.rootHash} (veritysetup format --no-superblock --salt=- recomputes it)`);
  if (hasRepart) {
    const r = median(t.repart);
    log(`  systemd-repart usr + usr-verity     ${f2(r)} s, ${f2(r / med(t.build, 'secs'))}x imgbuild build`);
  } else if (repartError) {
    log(`  systemd-repart: cannot run here (${repartError}): it formats verity through loop devices, which this machine lacks; no comparison`);
  } else {
    log('  systemd-repart: not installed (apt-get install systemd-repart on Debian 13, or systemd on 12), skipped');
  }

  const bigGiB = Number(process.env.BENCH_BIG_GIB ?? 4);
  if (bigGiB > 0) {
    rmSync(img, { force: true });
    rmSync(usr, { force: true });
    const big = join(dir, 'usr-big.squashfs');
    fakeSquashfs(dir, big, bigGiB * 1024 * MiB);
    const layout = join(dir, 'big-layout.json');
    bigLayout(layout, 2 * bigGiB);
    const bimg = join(dir, 'big.raw');
    const b = { verity: [], build: [], update: [], copy: [], copyAfter: [] };
    const bigRounds = Math.max(1, Math.min(rounds, 2));
    for (let i = 0; i < bigRounds; i++) round(b, big, bimg, layout);
    const bv = med(b.verity, 'secs');
    log(`${bigGiB} GiB /usr into ${2 * bigGiB} GiB slots, ${bigRounds} rounds, medians:`);
    log(line('imgbuild verity format (reference)', b.verity, bv));
    log(line('imgbuild build (raw)', b.build, bv) + '   [target ≤ 1.5x, RSS ≤ 160 MiB]');
    log(line('imgbuild update (raw)', b.update, bv) + '   [target ≤ 1.5x, RSS ≤ 160 MiB]');
    log(copyLine(b, med, bv));
  }
  log(`load average at the end: ${loadavg()[0].toFixed(1)}`);
}
