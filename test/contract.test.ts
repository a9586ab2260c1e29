/**
 * The interface contract (issue #15): every command's --json output, taken from real runs, is valid
 * against its committed JSON Schema (packages/core/schemas/, judged by ajv) and holds no "" (an absent
 * value is null); partitions look the same everywhere; --dry-run writes nothing (image bytes compared);
 * every --help has an Examples section; the terminal picture marks the slots and is plain off a terminal.
 */
import { Ajv } from 'ajv';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { fakeBzImage, imgbuild, ROOT, tempDir, tool } from './helpers.js';

const dir = tempDir('imgbuild-contract-');
const SCHEMAS = join(ROOT, 'packages/core/schemas');
const env = { SOURCE_DATE_EPOCH: '1700000000' };
const kernel = join(dir, 'vmlinuz');
const initrd = join(dir, 'initrd.img');
const img = join(dir, 'disk.raw');
const usr2 = join(dir, 'usr-2.squashfs');

const ajv = new Ajv({ allErrors: true, strict: false });
const validators = new Map<string, ReturnType<typeof ajv.compile>>();
function schemaCheck(name: string, value: unknown): void {
  if (!validators.has(name)) validators.set(name, ajv.compile(JSON.parse(readFileSync(join(SCHEMAS, `${name}.schema.json`), 'utf8'))));
  const v = validators.get(name)!;
  expect(v(value), `${name}: ${ajv.errorsText(v.errors)}`).toBe(true);
}

/** Paths of every "" in a JSON value: absent values are null. */
function emptyStrings(v: unknown, path = '$'): string[] {
  if (v === '') return [path];
  if (Array.isArray(v)) return v.flatMap((x, i) => emptyStrings(x, `${path}[${i}]`));
  if (v && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => emptyStrings(x, `${path}.${k}`));
  return [];
}

/** Runs `imgbuild ...args --json`, checks the exit code, the schema and the absence of "". */
async function json(schema: string, args: string[], exitCode = 0): Promise<any> {
  const r = await imgbuild([...args, '--json'], { env });
  expect(r.exitCode, `${args.join(' ')}: ${String(r.stderr)}`).toBe(exitCode);
  const out = JSON.parse(String(r.stdout));
  schemaCheck(schema, out);
  expect(emptyStrings(out), args.join(' ')).toEqual([]);
  return out;
}

const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

beforeAll(async () => {
  writeFileSync(kernel, fakeBzImage());
  writeFileSync(initrd, randomBytes(50_000));
  const tree = join(dir, 'tree-2');
  cpSync(join(ROOT, 'examples/usr'), tree, { recursive: true });
  writeFileSync(join(tree, 'lib/os-release'), 'ID=imgbuild-example\nVERSION_ID=2\n');
  await tool('mksquashfs', [tree, usr2, '-noappend', '-all-root', '-quiet', '-mkfs-time', '1700000000', '-all-time', '1700000000']);
});

describe('every --json output matches its schema', () => {
  let manifest: any;

  it('build (and build --dry-run, which writes nothing)', async () => {
    const args = ['build', '--from-dir', join(ROOT, 'examples/usr'), '--kernel', kernel, '--initrd', initrd, '--seed', 'contract', '-o', img];
    const plan = await json('build-dry-run', [...args, '--dry-run']);
    expect(existsSync(img) || existsSync(`${img}.manifest.json`)).toBe(false);
    expect(plan.files).toEqual([img, `${img}.manifest.json`]);
    expect(plan.espFiles.map((f: any) => f.path)).toEqual(['EFI/BOOT/BOOTX64.EFI', 'EFI/Linux/imgbuild-usr-a.efi']);
    const text = await imgbuild([...args, '--dry-run'], { env });
    expect(String(text.stdout)).toMatch(/dry run: nothing written/);
    expect(readdirSync(dir).filter((f) => f.startsWith('disk.raw'))).toEqual([]);

    const built = await json('build', args);
    manifest = JSON.parse(readFileSync(`${img}.manifest.json`, 'utf8'));
    schemaCheck('manifest', manifest);
    expect(built.manifestPath).toBe(`${img}.manifest.json`);
    // the plan named the partition the build then filled
    expect(manifest.partitions.find((p: any) => p.number === plan.partition.number)).toMatchObject({
      label: 'USR-A',
      firstLba: plan.partition.firstLba,
      lastLba: plan.partition.lastLba,
    });
  });

  it('one partition vocabulary: layout show, gpt show, slot status and the manifest agree', async () => {
    const layout = await json('layout-show', ['layout', 'show', 'mini']);
    const gpt = await json('gpt-show', ['gpt', 'show', img]);
    const status = await json('slot-status', ['slot', 'status', img]);
    const keys = ['number', 'uuid', 'label', 'type', 'firstLba', 'lastLba', 'attributes', 'role'];
    const pick = (p: any) => Object.fromEntries(keys.map((k) => [k, p[k]]));
    for (const m of manifest.partitions) {
      const g = gpt.partitions.find((p: any) => p.number === m.number);
      const l = layout.partitions.find((p: any) => p.number === m.number);
      expect(Object.keys(g).slice(0, keys.length)).toEqual(keys);
      expect(Object.keys(l).slice(0, keys.length)).toEqual(keys);
      // the table alone knows the ESP's and the slots' roles; the manifest knows every role
      expect({ ...pick(g), role: m.role }).toEqual(m);
      if (g.role !== null) expect(g.role).toBe(m.role);
      expect({ ...pick(l), uuid: m.uuid, attributes: m.attributes }).toEqual(m);
    }
    for (const s of status.slots) expect(pick(s)).toEqual(manifest.partitions.find((p: any) => p.number === s.number));
  });

  it('layout list, gpt create, gpt repair', async () => {
    const list = await json('layout-list', ['layout', 'list']);
    expect(list.map((l: any) => l.name)).toContain('flatcar');
    const g = join(dir, 'gpt.img');
    await json('gpt-create', ['gpt', 'create', '--layout', 'mini', '-o', g]);
    const repaired = await json('gpt-repair', ['gpt', 'repair', g]);
    expect(repaired).toMatchObject({ repaired: false, fixed: [] });
  });

  it('verity format and verity-verify use the same keys for the same parameters', async () => {
    const data = join(dir, 'verity.data');
    writeFileSync(data, randomBytes(64 * 4096));
    const hash = join(dir, 'verity.hash');
    const f = await json('verity-format', ['verity', 'format', data, hash, '--salt', '-']);
    expect(f.salt).toBeNull();
    const v = await json('verity-verify', ['verity-verify', data, '--hash-file', hash, '--root-hash', f.rootHash]);
    const { ok, partition, region, level, index, message, ...same } = v;
    expect([ok, partition, region, level, index, message]).toEqual([true, null, null, null, null, null]);
    expect(same).toEqual(f);
    const bad = await json('verity-verify', ['verity-verify', data, '--hash-file', hash, '--root-hash', '00'.repeat(32)], 1);
    expect(bad).toMatchObject({ ok: false, region: expect.any(String), rootHash: '00'.repeat(32), hash: null, dataBlocks: null });
    // every key of a success is there on a failure too (null where no tree was read), as the README promises
    expect(Object.keys(bad).sort()).toEqual(Object.keys(v).sort());
    const slot = await json('verity-verify', ['verity-verify', img, '--slot', 'A', '--root-hash', manifest.slots.A.rootHash]);
    expect(slot).toMatchObject({
      ok: true,
      partition: 3,
      salt: manifest.slots.A.salt,
      uuid: manifest.slots.A.superblockUuid,
      dataBlocks: manifest.slots.A.dataBlocks,
    });
  });

  it('verify', async () => {
    const v = await json('verify', ['verify', img]);
    expect(v.ok).toBe(true);
  });

  it("update --dry-run writes nothing and shows the slot verbs' shape; update does it", async () => {
    const before = sha(img);
    const manifestBefore = sha(`${img}.manifest.json`);
    const plan = await json('update', ['update', img, '--from', usr2, '--dry-run']);
    expect(sha(img)).toBe(before);
    expect(sha(`${img}.manifest.json`)).toBe(manifestBefore);
    expect(existsSync(`${img}.lock`)).toBe(false);
    expect(plan).toMatchObject({ action: 'update', slot: 'B', dryRun: true, written: false, rootHash: null });
    expect(plan.after.next).toBe('B');
    expect(plan.plan.espFiles).toEqual(['EFI/Linux/imgbuild-usr-b.efi']);
    const done = await json('update', ['update', img, '--from', usr2]);
    expect(done).toMatchObject({ action: 'update', slot: 'B', dryRun: false, written: true });
    expect(done.after).toEqual(plan.after);
    expect(done.plan).toEqual(plan.plan);
    schemaCheck('manifest', JSON.parse(readFileSync(`${img}.manifest.json`, 'utf8')));
  });

  it('slot verbs: --dry-run leaves the image bytes alone and reports what the real run then does', async () => {
    const verbs: Array<[string, string[]]> = [
      ['slot-next', ['slot', 'next', img]],
      ['slot-transition', ['slot', 'mark-successful', img, 'B']],
      ['slot-transition', ['slot', 'rollback', img]],
      ['slot-transition', ['slot', 'prioritize', img, 'B']],
      ['slot-transition', ['slot', 'set', img, 'A', '--tries', '2']],
      ['slot-transition', ['slot', 'upgrade', img, 'A']],
      ['slot-transition', ['slot', 'cancel-upgrade', img]],
    ];
    for (const [schema, args] of verbs) {
      const before = sha(img);
      const dry = await json(schema, [...args, '--dry-run']);
      expect(sha(img), args.join(' ')).toBe(before);
      expect(dry).toMatchObject({ dryRun: true, written: false });
      const real = await json(schema, args);
      expect(real.after, args.join(' ')).toEqual(dry.after);
      expect(real.written).toBe(real.changed);
    }
  });

  it('sign', async () => {
    const key = join(dir, 'db.key');
    const cert = join(dir, 'db.pem');
    await tool('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '3650', '-subj', '/CN=contract']);
    const s = await json('sign', ['sign', img, '--sign-key', key, '--sign-cert', cert]);
    expect(s.signing.files.length).toBeGreaterThan(0);
  });

  it('sysext build', async () => {
    const tree = join(dir, 'ext');
    mkdirSync(join(tree, 'usr/bin'), { recursive: true });
    writeFileSync(join(tree, 'usr/bin/hello'), '#!/bin/sh\necho hello\n');
    const ddi = await json('sysext-build', ['sysext', 'build', '--from-dir', tree, '--name', 'hello', '--version', '1', '-o', join(dir, 'hello.raw')]);
    expect(ddi.sysupdate).toBeNull();
    const plain = await json('sysext-build', [
      'sysext',
      'build',
      '--from-dir',
      tree,
      '--name',
      'hello',
      '--version',
      '1',
      '--format',
      'squashfs',
      '-o',
      join(dir, 'hello.sqfs'),
    ]);
    expect(plain.rootHash).toBeNull();
  });

  it.runIf(existsSync('/usr/share/OVMF/OVMF_CODE_4M.fd'))('qemu (a boot that cannot finish: a stand-in kernel, a short timeout)', async () => {
    const q = await json('qemu', ['qemu', img, '--timeout', '5'], 1);
    expect(q.healthy).toBe(false);
  });
});

describe('help, version, small things', () => {
  const commands = [
    [],
    ['layout'],
    ['layout', 'show'],
    ['layout', 'list'],
    ['gpt'],
    ['gpt', 'create'],
    ['gpt', 'show'],
    ['gpt', 'repair'],
    ['verity'],
    ['verity', 'format'],
    ['verity-verify'],
    ['build'],
    ['verify'],
    ['update'],
    ['sign'],
    ['slot'],
    ['slot', 'status'],
    ['slot', 'next'],
    ['slot', 'prioritize'],
    ['slot', 'mark-successful'],
    ['slot', 'upgrade'],
    ['slot', 'rollback'],
    ['slot', 'cancel-upgrade'],
    ['slot', 'set'],
    ['sysext'],
    ['sysext', 'build'],
    ['qemu'],
    ['attest'],
  ];
  it.each(commands.map((c) => [c.join(' ') || '(top)', c]))('%s --help has Examples', async (_n, c) => {
    const r = await imgbuild([...(c as string[]), '--help']);
    expect(r.exitCode).toBe(0);
    expect(String(r.stdout)).toMatch(/\nExamples:\n {2}imgbuild /);
  });

  it('build --help says where the output goes without -o', async () => {
    expect(String((await imgbuild(['build', '--help'])).stdout)).toMatch(/Without -o the image goes to \.\/image\.raw/);
  });

  it('--version is the package version', async () => {
    const version = JSON.parse(readFileSync(join(ROOT, 'packages/cli/package.json'), 'utf8')).version;
    expect(String((await imgbuild(['--version'])).stdout).trim()).toBe(version);
  });

  it('verity verify points to verity-verify (exit 2)', async () => {
    const r = await imgbuild(['verity', 'verify', 'x', '--root-hash', 'aa']);
    expect(r.exitCode).toBe(2);
    expect(String(r.stderr)).toMatch(/imgbuild verity-verify/);
  });
});

describe('the disk picture', () => {
  it('slot status marks the slots; off a terminal there is no colour', async () => {
    const fresh = join(dir, 'fresh.raw');
    expect((await imgbuild(['build', '--from', usr2, '--kernel', kernel, '--initrd', initrd, '-o', fresh], { env })).exitCode).toBe(0);
    const st = String((await imgbuild(['slot', 'status', fresh])).stdout);
    expect(st).toMatch(/\|USR-A ▸A● *\|USR-B B✗ *\|/);
    expect(st).not.toContain('\x1b[');
    expect((await imgbuild(['slot', 'upgrade', fresh, 'B', '--force'])).exitCode).toBe(0);
    expect(String((await imgbuild(['slot', 'status', fresh])).stdout)).toMatch(/USR-A A● *\|USR-B ▸B○ tries 1/);
    for (const args of [
      ['layout', 'show', 'flatcar'],
      ['gpt', 'show', fresh],
    ]) {
      const out = String((await imgbuild(args)).stdout);
      const bar = out.split('\n').find((l) => l.startsWith('|'))!;
      expect([...bar].length, args.join(' ')).toBe(78);
      expect(bar.split('|').length - 2, args.join(' ')).toBe(7); // every partition has a cell, BIOS-BOOT's 2 MiB too
    }
  });

  it('layout show --svg and gpt show --svg write a picture rsvg-convert renders with the partitions where they belong', async () => {
    const { decodePng } = await import('./png.js');
    const core = { ...(await import('@imgbuild/core')), ...(await import('../packages/core/src/picture/svg.js')) };
    const plan = await core.loadLayout('flatcar');
    const pic = core.diskPicture('layout flatcar', plan, core.planRecord(plan).partitions);
    const svg = join(dir, 'flatcar.svg');
    expect((await imgbuild(['layout', 'show', 'flatcar', '--svg', svg])).exitCode).toBe(0);
    expect(readFileSync(svg, 'utf8')).toBe(core.diskSvg(pic));
    expect((await imgbuild(['layout', 'show', 'flatcar', '--svg', svg])).exitCode).toBe(1); // exists: --force
    expect((await imgbuild(['layout', 'show', 'flatcar', '--svg', svg, '--force'])).exitCode).toBe(0);
    const png = join(dir, 'flatcar.png');
    await tool('rsvg-convert', ['-o', png, svg]);
    const p = decodePng(readFileSync(png));
    expect(p.width).toBe(core.SVG_WIDTH);
    const hexRgb = (h: string) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16));
    const near = (a: number[], b: number[]) => a.every((x, i) => Math.abs(x - b[i]) <= 8);
    expect(near(p.rgb(2, 2), hexRgb(core.SVG_BACKGROUND))).toBe(true);
    const boxes = core.svgBoxes(pic);
    expect(boxes.length).toBe(7);
    for (const b of boxes) {
      // the top of the bar, above any label, in the middle of each partition's box
      const at = p.rgb(Math.floor(b.x + b.width / 2), core.SVG_BAR_Y + 3);
      expect(near(at, hexRgb(core.fillOf(b.part))), `${b.part.label} at x=${b.x}: ${at}`).toBe(true);
      expect(b.width).toBeGreaterThanOrEqual(8);
    }
    const disk = join(dir, 'disk.svg');
    expect((await imgbuild(['gpt', 'show', img, '--svg', disk])).exitCode).toBe(0);
    await tool('rsvg-convert', ['-o', join(dir, 'disk.png'), disk]);
    expect(statSync(join(dir, 'disk.png')).size).toBeGreaterThan(1000);
    expect(readFileSync(disk, 'utf8')).toMatch(/▸|●|○/);
  });
});
