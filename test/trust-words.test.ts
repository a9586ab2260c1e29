/**
 * Issue #25, "Clear words and stable shapes" (items 13-18) and its docs list, through the built CLI and
 * the library:
 *  13 the rd. form of a key imgbuild owns is refused like the key;
 *  14 errors name the path the user gave (never a staging name, never none), sizes past 8 PiB are "too
 *     large", and every layout that cannot be built fails alike (exit 1, the layout file named);
 *  15 the library's public functions throw typed ImgbuildErrors (a `kind`, the file, errno in words);
 *  16 gpt show, gpt repair and slot status print the GPT read state in one shape (`gpt`);
 *  17 history says whose clock `at` is; SOURCE_DATE_EPOCH outside FAT's range and an empty --seed are
 *     refused;
 *  18 `help slot next`, `slot next --help`'s Arguments, COLUMNS for the picture, `slot status --svg`;
 *  docs: sysext --sysupdate makes its release folder; the CLI reference names every option; the
 *     real-OS commands write under out/; demo-os builds v1 with v1's boot files.
 * Needs a build (`npm run build`): it runs packages/cli/dist.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  applySlotTransition,
  createGptImage,
  ImgbuildError,
  InputError,
  loadLayout,
  readSlotStatus,
  UsageError,
  upgrade,
  verifyImage,
  type Slot,
} from '@imgbuild/core';
import { buildProgram } from '../packages/cli/src/program.js';
import { fakeBzImage, imgbuild, ROOT, tempDir, tool, copyOfImage } from './helpers.js';

const dir = tempDir('imgbuild-trust-words-');
const p = (name: string) => join(dir, name);
const SDE = '1700000000';
const env = { SOURCE_DATE_EPOCH: SDE };
const kernel = p('vmlinuz');
const initrd = p('initrd.img');
const usr = p('usr.squashfs');
const built = p('built.raw');

beforeAll(async () => {
  writeFileSync(kernel, fakeBzImage());
  writeFileSync(initrd, randomBytes(100_000));
  await tool('mksquashfs', [join(ROOT, 'examples/usr'), usr, '-noappend', '-all-root', '-quiet']);
  const r = await imgbuild(['build', '--from', usr, '--kernel', kernel, '--initrd', initrd, '--layout', 'mini', '--seed', 's', '-o', built], { env });
  expect(r.exitCode, String(r.stderr)).toBe(0);
});

function copyOfBuilt(): string {
  return copyOfImage(built, dir);
}

/** stderr is one line `imgbuild: ...`; returns it. */
function oneLine(stderr: unknown): string {
  const lines = String(stderr).trimEnd().split('\n');
  expect(lines, String(stderr)).toHaveLength(1);
  expect(lines[0]).toMatch(/^imgbuild: /);
  return lines[0];
}

const buildArgs = (...more: string[]) => ['build', '--from', usr, '--kernel', kernel, '--initrd', initrd, ...more];

function layoutFile(name: string, partitions: object[]): string {
  const f = p(name);
  writeFileSync(f, JSON.stringify({ name: name.replace(/\.json$/, ''), partitions }));
  return f;
}
const esp = { number: 1, label: 'EFI-SYSTEM', type: 'efi', size: '64MiB', role: 'esp' };
const usrSlot = (number: number, label: string, size = '128MiB') => ({ number, label, type: 'flatcar-usr', size, role: 'usr-slot' });

describe('13: --cmdline', () => {
  it('refuses rd.systemd.verity=0 as it refuses systemd.verity=0, and writes nothing', async () => {
    for (const key of ['systemd.verity', 'rd.systemd.verity', 'rd.usrhash']) {
      const out = p(`cmdline-${key}.raw`);
      const r = await imgbuild(buildArgs('--cmdline', `quiet ${key}=0`, '-o', out), { env });
      expect(r.exitCode, key).toBe(2);
      expect(oneLine(r.stderr)).toContain(`--cmdline may not set ${key}:`);
      expect(existsSync(out)).toBe(false);
    }
  });
});

describe('14: errors name what the user gave', () => {
  it('-o "" is a usage error naming the flag, and stages nothing', async () => {
    const cwd = p('empty-o');
    mkdirSync(cwd);
    const r = await imgbuild(buildArgs('-o', ''), { env, cwd });
    expect(r.exitCode).toBe(2);
    expect(oneLine(r.stderr)).toBe('imgbuild: the output path is empty: name a file');
    expect(readdirSync(cwd)).toEqual([]);
  });

  it('a --from-dir tree too large for the slot is named by its folder, not the temporary squashfs', async () => {
    const tree = p('big-tree');
    mkdirSync(join(tree, 'bin'), { recursive: true });
    writeFileSync(join(tree, 'bin/blob'), randomBytes(10 * 1024 * 1024)); // random: squashfs cannot shrink it
    const small = layoutFile('small-slots.json', [
      esp,
      { ...usrSlot(3, 'USR-A', '8MiB'), attributes: { priority: 1, successful: true } },
      usrSlot(4, 'USR-B', '8MiB'),
    ]);
    const r = await imgbuild(['build', '--from-dir', tree, '--kernel', kernel, '--initrd', initrd, '--layout', small, '-o', p('big.raw')], { env });
    expect(r.exitCode).toBe(1);
    const line = oneLine(r.stderr);
    expect(line).toMatch(new RegExp(`^imgbuild: ${tree}: packed as squashfs, too large for USR-A by \\d+ bytes`));
    expect(line).not.toMatch(/usr\.squashfs|\/imgbuild-[A-Za-z0-9]{6}\//); // build's scratch folder
  });

  it('update when no slot can boot names the image', async () => {
    const img = copyOfBuilt();
    expect((await imgbuild(['slot', 'set', img, 'A', '--priority', '0'])).exitCode).toBe(0);
    const r = await imgbuild(['update', img, '--from', usr], { env });
    expect(r.exitCode).toBe(1);
    expect(oneLine(r.stderr)).toMatch(new RegExp(`^imgbuild: ${img}: no slot can boot, so none is the running system to update from`));
  });

  it('"100000TiB" is too large, not "not a whole number of bytes"', async () => {
    const f = layoutFile('huge.json', [{ ...esp, size: '100000TiB' }]);
    const r = await imgbuild(['layout', 'show', f]);
    expect(r.exitCode).toBe(1);
    expect(oneLine(r.stderr)).toBe(`imgbuild: ${f}: partition 1 (EFI-SYSTEM): "100000TiB" is too large (at most 9007199254740991 bytes, about 8 PiB)`);
  });

  it('a layout without USR slots and one without an ESP fail alike: exit 1, one line naming the file', async () => {
    const noSlots = layoutFile('no-slots.json', [esp]);
    const noEsp = layoutFile('no-esp.json', [{ ...usrSlot(3, 'USR-A'), attributes: { priority: 1, successful: true } }, usrSlot(4, 'USR-B')]);
    const a = await imgbuild(buildArgs('--layout', noSlots, '-o', p('ns.raw')), { env });
    const b = await imgbuild(buildArgs('--layout', noEsp, '-o', p('ne.raw')), { env });
    expect([a.exitCode, b.exitCode]).toEqual([1, 1]);
    expect(oneLine(a.stderr)).toMatch(new RegExp(`^imgbuild: ${noSlots}: layout no-slots: build needs one USR-A and one USR-B`));
    expect(oneLine(b.stderr)).toBe(`imgbuild: ${noEsp}: layout no-esp has no ESP (role "esp")`);
  });
});

describe('15: the library throws typed errors naming the file', () => {
  it('readSlotStatus, applySlotTransition and verifyImage on a missing image: InputError, kind input, in words', async () => {
    const missing = p('nope.raw');
    for (const call of [() => readSlotStatus(missing), () => applySlotTransition(missing, (t) => t), () => verifyImage({ image: missing })]) {
      const e = await call().then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(InputError);
      expect(e).toMatchObject({ kind: 'input', file: missing, message: 'no such file' });
    }
  });

  it('an output that may not be written is an InputError naming it, not a bare ImgbuildError', async () => {
    const out = p('no-such-folder/x.img');
    const e = await createGptImage({ layout: 'mini', output: out }).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(InputError);
    expect(e).toMatchObject({ kind: 'input', file: out, message: 'output folder does not exist' });
  });

  it("applySlotTransition(img, t => upgrade(t, 'C')) is a UsageError naming the image, not a TypeError", async () => {
    const img = copyOfBuilt();
    const e = await applySlotTransition(img, (t) => upgrade(t, 'C' as Slot)).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(UsageError);
    expect(e).toMatchObject({ kind: 'usage', file: img, message: 'unknown slot "C" (expected A or B)' });
  });

  it('a layout file that cannot be read is an InputError in words; an invalid one a LayoutError', async () => {
    const e = await loadLayout(p('missing-layout.json')).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(InputError);
    expect((e as ImgbuildError).message).toBe('cannot read layout: no such file');
    const bad = await loadLayout(layoutFile('bad-type.json', [{ ...esp, type: 'nope' }])).catch((err: unknown) => err);
    expect((bad as ImgbuildError).kind).toBe('layout');
  });
});

describe('16: one shape for the GPT read state', () => {
  it('gpt show, gpt repair and slot status print the same `gpt` object, on a clean and on a damaged table', async () => {
    const img = copyOfBuilt();
    const json = async (args: string[]) => {
      const r = await imgbuild([...args, '--json']);
      expect(r.exitCode, String(r.stderr)).toBe(0);
      return JSON.parse(String(r.stdout));
    };
    const clean = (await json(['gpt', 'show', img])).gpt;
    expect(clean).toEqual({ source: 'primary', needsRepair: false, copiesDiffer: false, primaryError: null, backupError: null, mbrError: null, problems: [] });
    expect((await json(['slot', 'status', img])).gpt).toEqual(clean);
    // the primary header's signature gone: read from the backup
    const { openSync, writeSync, closeSync } = await import('node:fs');
    const fd = openSync(img, 'r+');
    writeSync(fd, Buffer.alloc(8), 0, 8, 512);
    closeSync(fd);
    const damaged = (await json(['gpt', 'show', img])).gpt;
    expect(damaged).toMatchObject({ source: 'backup', needsRepair: true });
    expect(damaged.primaryError).toMatch(/signature/);
    expect(damaged.problems).toEqual([damaged.primaryError]);
    expect((await json(['slot', 'status', img])).gpt).toEqual(damaged);
    const repaired = await json(['gpt', 'repair', img]);
    expect(repaired).toEqual({ image: img, repaired: true, fixed: damaged.problems, gpt: damaged });
    expect((await json(['gpt', 'show', img])).gpt).toEqual(clean);
  });
});

describe('16: verity-verify --json', () => {
  it('has every key on failure that it has on success (null where no tree was read)', async () => {
    const data = p('vv.data');
    const hash = p('vv.hash');
    writeFileSync(data, randomBytes(16 * 4096));
    const f = await imgbuild(['verity', 'format', data, hash, '--json']);
    expect(f.exitCode, String(f.stderr)).toBe(0);
    const good = await imgbuild(['verity-verify', data, '--hash-file', hash, '--root-hash', JSON.parse(String(f.stdout)).rootHash, '--json']);
    const bad = await imgbuild(['verity-verify', data, '--hash-file', hash, '--root-hash', '00'.repeat(32), '--json']);
    expect([good.exitCode, bad.exitCode]).toEqual([0, 1]);
    const [g, b] = [JSON.parse(String(good.stdout)), JSON.parse(String(bad.stdout))];
    expect(Object.keys(b).sort()).toEqual(Object.keys(g).sort());
    expect(g).toMatchObject({ ok: true, region: null, message: null });
    expect(b).toMatchObject({ ok: false, rootHash: '00'.repeat(32), hash: null, dataBlocks: null, region: expect.any(String), message: expect.any(String) });
  });
});

describe('17: times and seeds', () => {
  it("history says whose clock: the build's SOURCE_DATE_EPOCH, an update's wall clock unless SOURCE_DATE_EPOCH is set", async () => {
    const img = copyOfBuilt();
    const history = () => JSON.parse(readFileSync(`${img}.manifest.json`, 'utf8')).history;
    expect(history()).toEqual([expect.objectContaining({ action: 'build', at: Number(SDE), clock: 'source-date-epoch' })]);
    const t0 = Math.floor(Date.now() / 1000);
    const u = await imgbuild(['update', img, '--from', usr], { env: { SOURCE_DATE_EPOCH: '' } });
    expect(u.exitCode, String(u.stderr)).toBe(0);
    const t1 = Math.ceil(Date.now() / 1000);
    const wall = history()[1];
    expect(wall).toMatchObject({ action: 'update', slot: 'B', clock: 'wall' });
    expect(wall.at).toBeGreaterThanOrEqual(t0);
    expect(wall.at).toBeLessThanOrEqual(t1);
    expect((await imgbuild(['slot', 'mark-successful', img, 'B'])).exitCode).toBe(0);
    expect((await imgbuild(['update', img, '--from', usr], { env })).exitCode).toBe(0);
    expect(history()[2]).toMatchObject({ action: 'update', slot: 'A', at: Number(SDE), clock: 'source-date-epoch' });
  });

  it('SOURCE_DATE_EPOCH=0 is refused (FAT dates nothing before 1980), not moved to 1980', async () => {
    const out = p('sde0.raw');
    const r = await imgbuild(buildArgs('-o', out), { env: { SOURCE_DATE_EPOCH: '0' } });
    expect(r.exitCode).toBe(2);
    expect(oneLine(r.stderr)).toMatch(/SOURCE_DATE_EPOCH=0 is outside what the ESP's FAT can date \(315532800\.\.4354819198/);
    expect(existsSync(out)).toBe(false);
    // a system extension has no FAT: its files get the time asked for, 1970 included
    const tree = p('ext0');
    mkdirSync(join(tree, 'usr/bin'), { recursive: true });
    writeFileSync(join(tree, 'usr/bin/hello'), 'echo hello\n');
    const ext = p('ext0.raw');
    const x = await imgbuild(['sysext', 'build', '--from-dir', tree, '--name', 'hello', '--version', '1', '--format', 'squashfs', '-o', ext], {
      env: { SOURCE_DATE_EPOCH: '0' },
    });
    expect(x.exitCode, String(x.stderr)).toBe(0);
    expect(String((await tool('unsquashfs', ['-lls', ext])).stdout)).toMatch(/root\/root\s+\d+ 1970-01-01 00:00 squashfs-root\/usr\/bin\/hello/);
  });

  it('an empty --seed is refused by every command that takes one', async () => {
    const tree = p('ext');
    mkdirSync(join(tree, 'usr/bin'), { recursive: true });
    writeFileSync(join(tree, 'usr/bin/hello'), 'echo hello\n');
    writeFileSync(p('vdata'), randomBytes(8 * 4096));
    for (const args of [
      buildArgs('--seed', '', '-o', p('seed.raw')),
      ['gpt', 'create', '--layout', 'mini', '--seed', '', '-o', p('seed.img')],
      ['sysext', 'build', '--from-dir', tree, '--name', 'hello', '--version', '1', '--seed', '', '-o', p('seed-ext.raw')],
      ['verity', 'format', p('vdata'), p('vhash'), '--seed', ''],
    ]) {
      const r = await imgbuild(args, { env });
      expect(r.exitCode, args.join(' ')).toBe(2);
      expect(oneLine(r.stderr)).toBe('imgbuild: --seed is empty: give a non-empty seed, or leave it out to derive one from the inputs');
    }
    expect(readdirSync(dir).filter((f) => f.startsWith('seed') || f === 'vhash')).toEqual([]);
  });
});

describe('18: help and the picture', () => {
  it("`help slot next` prints slot next's help, with an Arguments section", async () => {
    const viaHelp = await imgbuild(['help', 'slot', 'next']);
    const viaFlag = await imgbuild(['slot', 'next', '--help']);
    expect([viaHelp.exitCode, viaFlag.exitCode]).toEqual([0, 0]);
    expect(String(viaHelp.stdout)).toMatch(/^Usage: imgbuild slot next \[options\] <image>/);
    expect(String(viaHelp.stdout)).toBe(String(viaFlag.stdout));
    expect(String(viaFlag.stdout)).toMatch(/\nArguments:\n\s+image\s+raw disk image or qemu_uefi bundle folder\n/);
  });

  it('every argument of every command is described, so each --help has its Arguments section', () => {
    type Cmd = ReturnType<typeof buildProgram>;
    const all = (c: Cmd): Cmd[] => [c, ...c.commands.flatMap((s) => all(s as Cmd))];
    const bare = all(buildProgram()).flatMap((c) => c.registeredArguments.filter((a) => !a.description).map((a) => `${c.name()} <${a.name()}>`));
    expect(bare).toEqual([]);
  });

  it('the disk picture is as wide as COLUMNS says', async () => {
    for (const columns of ['50', '100']) {
      const out = String((await imgbuild(['slot', 'status', built], { env: { COLUMNS: columns } })).stdout);
      const bar = out.split('\n').find((l) => l.startsWith('|'))!;
      expect([...bar].length, columns).toBe(Number(columns));
    }
  });

  it('slot status --svg writes the picture (rsvg-convert renders it), and refuses to replace it without --force', async () => {
    const svg = p('slots.svg');
    const r = await imgbuild(['slot', 'status', built, '--svg', svg]);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(String(r.stdout)).toContain(`picture: ${svg}`);
    expect(readFileSync(svg, 'utf8')).toMatch(/^<svg [^]*USR-A[^]*▸/);
    await tool('rsvg-convert', ['-o', p('slots.png'), svg]);
    expect((await imgbuild(['slot', 'status', built, '--svg', svg])).exitCode).toBe(1);
    expect((await imgbuild(['slot', 'status', built, '--svg', svg, '--force'])).exitCode).toBe(0);
  });
});

describe('docs', () => {
  it("the README's sysext example works without making the release folder first", async () => {
    const tree = p('hello');
    mkdirSync(join(tree, 'usr/bin'), { recursive: true });
    writeFileSync(join(tree, 'usr/bin/hello'), 'echo hello\n');
    const release = p('release');
    const r = await imgbuild(
      [
        'sysext',
        'build',
        '--from-dir',
        tree,
        '--name',
        'hello',
        '--version',
        '1.0',
        '--os-id',
        'debian',
        '--os-version-id',
        '12',
        '--sysupdate',
        `${release}/`,
        '--sysupdate-source',
        'https://example.org/hello/',
      ],
      { env },
    );
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(readdirSync(release).sort()).toEqual(['SHA256SUMS', 'hello-1.0-x86-64.raw', 'hello-1.0-x86-64.roothash', 'hello.conf', 'hello.roothash.conf']);
    const orphan = await imgbuild(['sysext', 'build', '--from-dir', tree, '--name', 'hello', '--version', '1.0', '--sysupdate', p('no-parent/release')], {
      env,
    });
    expect(orphan.exitCode).toBe(1);
    expect(oneLine(orphan.stderr)).toContain('release folder does not exist, nor does the folder it would be made in');
  });

  it("the README's CLI reference names every option of every command in that command's row", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const ref = readme.slice(readme.indexOf('## CLI reference'), readme.indexOf('### JSON output'));
    const rows = ref.split('\n').filter((l) => l.startsWith('| `imgbuild'));
    type Cmd = ReturnType<typeof buildProgram>;
    const leaves = (c: Cmd, path: string[]): [string[], Cmd][] =>
      c.commands.length ? c.commands.flatMap((s) => leaves(s as Cmd, [...path, s.name()])) : [[path, c]];
    const missing: string[] = [];
    for (const [path, c] of leaves(buildProgram(), [])) {
      if ((c as unknown as { _hidden: boolean })._hidden) continue; // `verity verify`, which points to verity-verify
      const name = path.at(-1)!;
      const parent = path.length > 1 ? path.at(-2)! : 'imgbuild';
      const head = new RegExp(`(${parent} |\\\\\\|)${name}\\b`);
      const mine = rows.filter((r) => head.test(r.split(' | ')[0]));
      expect(mine.length, path.join(' ')).toBeGreaterThan(0);
      for (const o of c.options) {
        if (o.long === '--help') continue;
        if (!mine.some((r) => r.includes(`${o.long}`) || (o.short && r.includes(`${o.short} `)))) missing.push(`${path.join(' ')} ${o.long}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('the real-OS commands write under out/ (git-ignored), and demo-os builds v1 with the boot files of v1', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const realOs = readme.slice(readme.indexOf('**A real OS**'), readme.indexOf('`hack/demo.sh` runs'));
    expect(realOs).toMatch(/-o out\/os\.raw/);
    expect(realOs).not.toMatch(/-o os\.raw|qemu os\.raw/);
    expect(readFileSync(join(ROOT, '.gitignore'), 'utf8')).toMatch(/^\/?out\/$/m);
    const demo = readFileSync(join(ROOT, 'hack/demo-os.sh'), 'utf8');
    // v1 comes from the build file, whose recipe makes version 1's /usr, kernel and initrd together
    expect(demo).toMatch(/imgbuild build -c examples\/os\/imgbuild\.json -o "\$out\/os\.raw"/);
    const file = JSON.parse(readFileSync(join(ROOT, 'examples/os/imgbuild.json'), 'utf8'));
    expect(file.inputs.recipe.run.slice(-2)).toEqual(['--version', '1']);
    expect(file.version).toBe('1');
    expect(Object.keys(file.inputs)).toEqual(['recipe']); // no kernel or initrd of another version
    // the variables v2's eval sets are saved before anything can overwrite them
    const evals = [...demo.matchAll(/eval "\$\(bash os\/debian\/build\.sh --version (\d) \| tail -5\)"\n(.*)\n/g)];
    expect(evals.map((m) => m[1])).toEqual(['2']);
    for (const k of ['usr', 'kernel', 'initrd']) expect(evals[0][2], `v2 ${k}`).toContain(`v2_${k}=$${k}`);
    expect(demo).toMatch(/imgbuild update "\$out\/os\.raw" --from "\$v2_usr" --kernel "\$v2_kernel" --initrd "\$v2_initrd"/);
  });
});
