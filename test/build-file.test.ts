/**
 * Issue 26, "One declarative build file", through the built CLI: `imgbuild build` with no flags reads
 * ./imgbuild.json, `-c FILE` another; flags override keys; `--print-config` prints the merged result
 * and builds nothing; errors name the file and the key path (and the nearest valid key); paths are
 * relative to the file's folder; the same file gives the same image and manifest, byte for byte, from
 * another checkout too; the manifest records the configuration (and keeps it through an update); a
 * recipe makes inputs; extensions land in ROOT (judged by debugfs and a separate `sysext build`); the
 * JSON Schemas (ajv) take the examples and the printed configuration.
 * Needs a build (`npm run build`). Pure parts: packages/core/src/config/config.test.ts.
 */
import { Ajv } from 'ajv';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { manifestV2Schema } from '../packages/core/src/manifest/schema.js';
import { fakeBzImage, imgbuild, ROOT, tempDir, tool } from './helpers.js';

const dir = tempDir('imgbuild-build-file-');
const SDE = '1700000000';
const env = { SOURCE_DATE_EPOCH: SDE };
const sha256 = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
const json = (p: string) => JSON.parse(readFileSync(p, 'utf8'));
const oneLine = (s: unknown) => {
  const lines = String(s).trim().split('\n');
  expect(lines).toHaveLength(1);
  return lines[0];
};

/** A project folder: usr/ (the bundled example), boot/ (fake kernel and initrd), imgbuild.json. */
function project(name: string, config: object): string {
  const p = join(dir, name);
  mkdirSync(join(p, 'boot'), { recursive: true });
  cpSync(join(ROOT, 'examples/usr'), join(p, 'usr'), { recursive: true });
  cpSync(join(dir, 'vmlinuz'), join(p, 'boot/vmlinuz'));
  cpSync(join(dir, 'initrd.img'), join(p, 'boot/initrd.img'));
  writeFileSync(join(p, 'imgbuild.json'), JSON.stringify(config, null, 2));
  return p;
}

const BASE = {
  layout: 'mini',
  seed: 'file',
  inputs: { fromDir: 'usr', kernel: 'boot/vmlinuz', initrd: 'boot/initrd.img' },
  cmdline: 'quiet',
  outputs: { format: 'raw', path: 'out/disk.raw' },
};

beforeAll(() => {
  writeFileSync(join(dir, 'vmlinuz'), fakeBzImage());
  writeFileSync(join(dir, 'initrd.img'), randomBytes(100_000));
});

describe('imgbuild build with a build file', () => {
  it('with no flags reads ./imgbuild.json: the same image as the same build by flags, and the manifest records the configuration', async () => {
    const p = project('plain', BASE);
    const r = await imgbuild(['build'], { cwd: p, env });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const img = join(p, 'out/disk.raw');
    const byFlags = join(dir, 'by-flags.raw');
    const f = await imgbuild(['build', '--from-dir', join(p, 'usr'), '--kernel', join(p, 'boot/vmlinuz'), '--initrd', join(p, 'boot/initrd.img'), '--layout', 'mini', '--seed', 'file', '--cmdline', 'quiet', '-o', byFlags], { env });
    expect(f.exitCode, String(f.stderr)).toBe(0);
    expect(sha256(img)).toBe(sha256(byFlags));
    const m = json(`${img}.manifest.json`);
    expect(manifestV2Schema.safeParse(m).success).toBe(true);
    expect(m.buildConfig).toEqual({
      file: 'imgbuild.json',
      config: {
        layout: 'mini',
        arch: 'x86-64',
        seed: 'file',
        version: null,
        inputs: { from: null, fromDir: 'usr', recipe: null, kernel: 'boot/vmlinuz', initrd: 'boot/initrd.img', rootTree: null, osRelease: null, selector: null },
        cmdline: 'quiet',
        bootStyle: 'uki',
        extensions: [],
        signing: { key: null, cert: null, passFile: null, secureBoot: false },
        outputs: { format: 'raw', path: 'out/disk.raw', imageSha256: false },
      },
    });
    // a build by flags alone records its configuration too, with no file
    expect(json(`${byFlags}.manifest.json`).buildConfig.file).toBeNull();
    // the published JSON Schema takes the manifest as zod does
    const ajv = new Ajv({ strict: false });
    const validate = ajv.compile(json(join(ROOT, 'packages/core/schemas/manifest.schema.json')));
    expect(validate(m), ajv.errorsText(validate.errors)).toBe(true);
  });

  it('is reproducible: the same file and inputs, built twice and from another checkout, give the same image and manifest', async () => {
    const a = project('repro-a', BASE);
    const b = project('elsewhere/deeper/repro-b', BASE);
    for (const p of [a, b]) expect((await imgbuild(['build'], { cwd: p, env })).exitCode).toBe(0);
    const first = sha256(join(a, 'out/disk.raw'));
    const again = await imgbuild(['build', '--force'], { cwd: a, env });
    expect(again.exitCode, String(again.stderr)).toBe(0);
    expect(sha256(join(a, 'out/disk.raw'))).toBe(first);
    expect(sha256(join(b, 'out/disk.raw'))).toBe(first);
    expect(readFileSync(join(b, 'out/disk.raw.manifest.json'), 'utf8')).toBe(readFileSync(join(a, 'out/disk.raw.manifest.json'), 'utf8'));
  });

  it('an update keeps the recorded configuration, and verify passes on the updated image', async () => {
    const p = project('updated', BASE);
    expect((await imgbuild(['build'], { cwd: p, env })).exitCode).toBe(0);
    const img = join(p, 'out/disk.raw');
    const before = json(`${img}.manifest.json`).buildConfig;
    writeFileSync(join(p, 'usr/share/imgbuild-example/payload.txt'), 'version 2\n');
    await tool('mksquashfs', [join(p, 'usr'), join(p, 'usr-2.squashfs'), '-noappend', '-all-root', '-quiet']);
    const u = await imgbuild(['update', img, '--from', join(p, 'usr-2.squashfs')], { env });
    expect(u.exitCode, String(u.stderr)).toBe(0);
    expect(json(`${img}.manifest.json`).buildConfig).toEqual(before);
    const v = await imgbuild(['verify', img], { env });
    expect(v.exitCode, String(v.stdout)).toBe(0);
  });

  it('-c FILE reads another file; its relative paths resolve against its own folder, not the current one', async () => {
    const p = project('dash-c', { ...BASE, outputs: { path: 'built/x.raw' } });
    const r = await imgbuild(['build', '-c', join(p, 'imgbuild.json')], { cwd: dir, env });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(existsSync(join(p, 'built/x.raw'))).toBe(true);
    expect(existsSync(join(dir, 'built'))).toBe(false);
  });

  it('flags override keys (their paths against the current folder), and --print-config shows the merged result without building', async () => {
    const p = project('override', BASE);
    const printed = await imgbuild(['build', '--print-config', '--seed', 'flag', '-o', 'mine.raw', '--format', 'qemu_uefi'], { cwd: p, env });
    expect(printed.exitCode, String(printed.stderr)).toBe(0);
    const c = JSON.parse(String(printed.stdout));
    const ajv = new Ajv({ strict: false });
    const validate = ajv.compile(json(join(ROOT, 'packages/core/schemas/build-print-config.schema.json')));
    expect(validate(c), ajv.errorsText(validate.errors)).toBe(true);
    expect(c).toMatchObject({ seed: 'flag', layout: 'mini', cmdline: 'quiet', outputs: { format: 'qemu_uefi', path: 'mine.raw' }, inputs: { fromDir: 'usr', kernel: 'boot/vmlinuz' } });
    // -c from elsewhere: the file's paths are joined to its folder as named
    const other = JSON.parse(String((await imgbuild(['build', '-c', 'override/imgbuild.json', '--print-config'], { cwd: dir })).stdout));
    expect(other.inputs).toMatchObject({ fromDir: 'override/usr', kernel: 'override/boot/vmlinuz' });
    expect(other.outputs.path).toBe('override/out/disk.raw');
    expect(existsSync(join(p, 'mine.raw')) || existsSync(join(p, 'out'))).toBe(false);
    const r = await imgbuild(['build', '--seed', 'flag', '--cmdline', 'loglevel=3', '-o', 'mine.raw', '--json'], { cwd: p, env });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const m = json(join(p, 'mine.raw.manifest.json'));
    expect(m.seed).toBe('flag');
    expect(m.boot.slots.A.cmdline).toContain('loglevel=3');
    expect(m.boot.slots.A.cmdline).not.toContain('quiet');
    expect(m.buildConfig.config).toMatchObject({ seed: 'flag', cmdline: 'loglevel=3', outputs: { path: 'mine.raw' } });
  });

  it('refuses an unknown key naming the file and suggesting the nearest key, and a wrong type by its key path (exit 1)', async () => {
    const p = project('typo', { ...BASE, outputs: { fromat: 'raw' } });
    const r = await imgbuild(['build'], { cwd: p, env });
    expect(r.exitCode).toBe(1);
    expect(oneLine(r.stderr)).toBe('imgbuild: imgbuild.json: unknown key outputs.fromat (did you mean outputs.format?)');
    writeFileSync(join(p, 'bad.json'), JSON.stringify({ ...BASE, outputs: { imageSha256: 'yes' } }));
    const t = await imgbuild(['build', '-c', 'bad.json'], { cwd: p, env });
    expect(t.exitCode).toBe(1);
    expect(oneLine(t.stderr)).toBe('imgbuild: bad.json: outputs.imageSha256: expected true or false (also record the sha256 of the whole raw image), got string "yes"');
    writeFileSync(join(p, 'broken.json'), '{ "layout": ');
    expect(oneLine((await imgbuild(['build', '-c', 'broken.json'], { cwd: p })).stderr)).toMatch(/^imgbuild: broken\.json: not valid JSON/);
  });

  it('names a missing file; with neither a file nor flags, says what to give (exit 2)', async () => {
    const r = await imgbuild(['build', '-c', 'nope.json'], { cwd: dir });
    expect(r.exitCode).toBe(1);
    expect(oneLine(r.stderr)).toBe('imgbuild: nope.json: no such build file');
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    const n = await imgbuild(['build'], { cwd: empty });
    expect(n.exitCode).toBe(2);
    expect(oneLine(n.stderr)).toBe('imgbuild: no imgbuild.json here: write one (see examples/imgbuild.json), give -c FILE, or give the inputs as flags (--from or --from-dir, --kernel, --initrd)');
    // a file that lacks a needed key names the key
    const p = project('no-kernel', { ...BASE, inputs: { fromDir: 'usr', initrd: 'boot/initrd.img' } });
    const k = await imgbuild(['build'], { cwd: p });
    expect(k.exitCode).toBe(1);
    expect(oneLine(k.stderr)).toBe('imgbuild: imgbuild.json: no kernel: set inputs.kernel (or give --kernel, or a recipe that makes it)');
  });

  it("refuses a version the /usr's os-release does not carry", async () => {
    const p = project('version', { ...BASE, version: '2.0.0' });
    const r = await imgbuild(['build'], { cwd: p, env });
    expect(r.exitCode).toBe(1);
    expect(oneLine(r.stderr)).toBe('imgbuild: imgbuild.json: version "2.0.0", but the /usr (usr) has VERSION_ID=1.0.0 in lib/os-release');
    writeFileSync(join(p, 'imgbuild.json'), JSON.stringify({ ...BASE, version: '1.0.0' }));
    expect((await imgbuild(['build'], { cwd: p, env })).exitCode).toBe(0);
  });

  it('runs a recipe for the inputs it makes (kernel=, initrd= lines), in the file\'s folder', async () => {
    const p = project('recipe', { ...BASE, inputs: { fromDir: 'usr', recipe: { run: ['sh', 'kit.sh'] } } });
    writeFileSync(join(p, 'kit.sh'), 'echo "making the kit" >&2\necho kernel=boot/vmlinuz\necho "initrd=$(pwd)/boot/initrd.img"\n');
    const printed = JSON.parse(String((await imgbuild(['build', '--print-config'], { cwd: p })).stdout));
    expect(printed.inputs).toMatchObject({ kernel: null, recipe: { run: ['sh', 'kit.sh'] } }); // not run for --print-config
    const r = await imgbuild(['build'], { cwd: p, env });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const m = json(join(p, 'out/disk.raw.manifest.json'));
    expect(m.buildConfig.config.inputs).toMatchObject({ kernel: 'boot/vmlinuz', initrd: 'boot/initrd.img' });
    expect(m.boot.slots.A.kernelSha256).toBe(sha256(join(dir, 'vmlinuz')));
    writeFileSync(join(p, 'kit.sh'), 'echo "mirror unreachable" >&2\nexit 3\n');
    const failed = await imgbuild(['build', '--force'], { cwd: p, env });
    expect(failed.exitCode).toBe(1);
    // the recipe's own stderr comes through as it runs (its progress); ours is one line after it
    expect(String(failed.stderr).trim().split('\n')).toEqual(['mirror unreachable', 'imgbuild: imgbuild.json: inputs.recipe: `sh kit.sh` failed (exit 3): mirror unreachable']);
  });

  it("builds the extensions into ROOT's var/lib/extensions/ (debugfs reads them back, equal to sysext build's) and enables systemd-sysext", async () => {
    const p = project('ext', {
      ...BASE,
      layout: 'flatcar',
      inputs: { ...BASE.inputs, rootTree: 'root' },
      extensions: [{ fromDir: 'hello', name: 'hello', version: '1.0' }],
    });
    for (const d of ['root/usr', 'root/etc', 'hello/usr/bin']) mkdirSync(join(p, d), { recursive: true });
    writeFileSync(join(p, 'hello/usr/bin/hello'), '#!/bin/sh\necho hello\n', { mode: 0o755 });
    const r = await imgbuild(['build'], { cwd: p, env });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const m = json(join(p, 'out/disk.raw.manifest.json'));
    const root = m.partitions.find((q: { role: string }) => q.role === 'root');
    const at = `${join(p, 'out/disk.raw')}?offset=${root.firstLba * 512}`;
    const ls = await tool('debugfs', ['-R', 'ls -p /var/lib/extensions', at]);
    expect(String(ls.stdout)).toMatch(/hello\.raw/);
    expect(String(ls.stdout)).toMatch(/hello\.roothash/);
    const link = await tool('debugfs', ['-R', 'stat /etc/systemd/system/sysinit.target.wants/systemd-sysext.service', at]);
    expect(String(link.stdout)).toContain('Fast link dest: "/usr/lib/systemd/system/systemd-sysext.service"');
    await tool('debugfs', ['-R', `dump /var/lib/extensions/hello.raw ${join(p, 'in-root.raw')}`, at]);
    const separate = await imgbuild(['sysext', 'build', '--from-dir', join(p, 'hello'), '--name', 'hello', '--version', '1.0', '-o', join(p, 'separate.raw')], { env });
    expect(separate.exitCode, String(separate.stderr)).toBe(0);
    expect(sha256(join(p, 'in-root.raw'))).toBe(sha256(join(p, 'separate.raw')));
    // the user's tree is untouched
    expect(existsSync(join(p, 'root/var'))).toBe(false);
  });
});

describe('the examples and the JSON Schema', () => {
  const ajv = new Ajv({ strict: false });
  const validate = ajv.compile(json(join(ROOT, 'packages/core/schemas/build-config.schema.json')));

  it.each(['examples/imgbuild.json', 'examples/os/imgbuild.json'])('%s is valid for editors (ajv) and for imgbuild (--print-config)', async (file) => {
    expect(validate(json(join(ROOT, file))), ajv.errorsText(validate.errors)).toBe(true);
    const r = await imgbuild(['build', '-c', join(ROOT, file), '--print-config']);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(JSON.parse(String(r.stdout)).inputs.recipe.run[0]).toBe('bash');
  });

  it('the JSON Schema refuses a typo as imgbuild does', () => {
    expect(validate({ outputs: { fromat: 'raw' } })).toBe(false);
  });
});
