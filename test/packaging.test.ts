/**
 * The packages work outside this monorepo: each workspace package is packed with `npm pack`, the
 * tarballs are installed into an empty folder (no workspace links, dependencies from the registry or
 * npm's cache), and the installed CLI and library are used there. A file missing from a tarball (the
 * selector binaries, the JSON Schemas, the type declarations) fails here, not on a user's machine.
 * Needs a build (`npm run build`).
 */
import { randomBytes } from 'node:crypto';
import { cpSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { fakeBzImage, ROOT, tempDir, tool } from './helpers.js';

const dir = tempDir('imgbuild-packaging-');
const app = join(dir, 'app');
const PACKAGES = ['packages/efi-select', 'packages/core', 'packages/cli'];
const tarballs: Record<string, string> = {};
const bin = () => join(app, 'node_modules/.bin/imgbuild');

beforeAll(async () => {
  for (const p of PACKAGES) {
    const r = await execa('npm', ['pack', '--json', '--pack-destination', dir], { cwd: join(ROOT, p) });
    const [info] = JSON.parse(String(r.stdout)) as Array<{ filename: string }>;
    tarballs[p] = join(dir, info.filename);
  }
  cpSync(join(ROOT, 'examples'), join(dir, 'examples'), { recursive: true });
  await execa('mkdir', ['-p', app]);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  await execa('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...PACKAGES.map((p) => tarballs[p])], { cwd: app });
}, 600_000);

const listing = async (p: string) => String((await execa('tar', ['-tzf', tarballs[p]])).stdout).split('\n');

describe('the tarballs', () => {
  it('hold what the code finds at run time: both selector builds, the JSON Schemas, the bundle and the declarations', async () => {
    expect(await listing('packages/efi-select')).toEqual(expect.arrayContaining(['package/dist/imgbuild-select-x64.efi', 'package/dist/imgbuild-select-aa64.efi', 'package/index.js', 'package/index.d.ts']));
    expect(await listing('packages/core')).toEqual(expect.arrayContaining(['package/dist/index.js', 'package/dist/index.d.ts', 'package/schemas/manifest.schema.json', 'package/schemas/build.schema.json']));
    expect(await listing('packages/cli')).toEqual(expect.arrayContaining(['package/bin/imgbuild.js', 'package/dist/bundle/imgbuild.js', 'package/dist/bundle/worker.js']));
  });

  it('state engines and depend on each other by version, never by path', () => {
    for (const p of PACKAGES) {
      const pkg = JSON.parse(readFileSync(join(ROOT, p, 'package.json'), 'utf8')) as { engines?: { node?: string }; dependencies?: Record<string, string> };
      expect(pkg.engines?.node, p).toMatch(/^>=20/);
      for (const [name, range] of Object.entries(pkg.dependencies ?? {})) expect(range, `${p} → ${name}`).toMatch(/^\^?\d/);
    }
  });
});

describe('installed into an empty folder', () => {
  it('is a real install: the packages are copies inside the folder, not links into the monorepo', () => {
    for (const name of ['@imgbuild/core', '@imgbuild/efi-select', 'imgbuild']) expect(realpathSync(join(app, 'node_modules', name)).startsWith(realpathSync(app))).toBe(true);
  });

  it('imgbuild --help runs', async () => {
    const r = await execa(bin(), ['--help']);
    expect(String(r.stdout)).toMatch(/build/);
    expect(String(r.stdout)).toMatch(/verify/);
  });

  it('builds a small image that verify accepts, and the library reads its slots by package name', async () => {
    const kernel = join(dir, 'vmlinuz');
    writeFileSync(kernel, fakeBzImage());
    writeFileSync(join(dir, 'initrd.img'), randomBytes(100_000));
    await tool('mksquashfs', [join(dir, 'examples/usr'), join(dir, 'usr.squashfs'), '-noappend', '-all-root', '-quiet']);
    const img = join(dir, 'disk.raw');
    const b = await execa(bin(), ['build', '--from', join(dir, 'usr.squashfs'), '--kernel', kernel, '--initrd', join(dir, 'initrd.img'), '--layout', 'mini', '-o', img], { cwd: app, reject: false });
    expect(b.exitCode, String(b.stderr)).toBe(0);
    const v = await execa(bin(), ['verify', img], { cwd: app, reject: false });
    expect(v.exitCode, String(v.stdout)).toBe(0);
    const lib = await execa('node', ['--input-type=module', '-e', `import { readSlotStatus } from '@imgbuild/core'; const r = await readSlotStatus(${JSON.stringify(img)}); console.log(r.status.next);`], { cwd: app });
    expect(String(lib.stdout).trim()).toBe('A');
  });
});
