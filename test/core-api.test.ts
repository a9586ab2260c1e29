/**
 * `@imgbuild/core`'s public surface, as a program outside the monorepo resolves it through the package's
 * "exports": the root entry holds the verbs and their types, the named subpaths hold the layers below,
 * and nothing else is reachable (an internal module path is refused by node, so internals can move).
 * The API reference (`npm run docs:api`, typedoc with validation and the example plugin) checks that each
 * of these exports is documented with an example. Needs a build (`npm run build`).
 */
import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers.js';

const pkg = JSON.parse(readFileSync(join(ROOT, 'packages/core/package.json'), 'utf8')) as { exports: Record<string, unknown> };

/** What `import('@imgbuild/core<sub>')` gives a program in another folder: the export names, or the error code. */
async function exportsOf(specifier: string): Promise<string[] | string> {
  const code = `import(${JSON.stringify(specifier)}).then((m) => console.log(JSON.stringify(Object.keys(m))), (e) => console.log(JSON.stringify(e.code ?? e.message)))`;
  const r = await execa('node', ['--input-type=module', '-e', code], { cwd: join(ROOT, 'packages/cli') });
  return JSON.parse(String(r.stdout)) as string[] | string;
}

describe('@imgbuild/core exports', () => {
  it('names every entry point: the root, the subpaths for the layers below, the JSON Schemas; no wildcard', () => {
    expect(Object.keys(pkg.exports).sort()).toEqual(['.', './arch', './errors', './gpt', './layouts', './package.json', './schemas/*', './slots', './verity']);
  });

  it('the root holds the verbs a program needs: build, update, verify, slots, verity, extensions, signing, qemu, the picture, attest, errors', async () => {
    const root = await exportsOf('@imgbuild/core');
    expect(root).toEqual(
      expect.arrayContaining([
        'buildImage',
        'planBuild',
        'updateImage',
        'verifyImage',
        'readManifest',
        'readSlotStatus',
        'applySlotTransition',
        'upgrade',
        'markSuccessful',
        'rollback',
        'cancelUpgrade',
        'prioritize',
        'setSlotBits',
        'next',
        'formatVerity',
        'verifyVerity',
        'buildSysext',
        'signImage',
        'runQemu',
        'resolveBootTarget',
        'diskPicture',
        'diskBar',
        'diskSvg',
        'attestReport',
        'parseAttestReport',
        'predictPcr11',
        'loadLayout',
        'FileStorage',
        'ImgbuildError',
        'UsageError',
        'LayoutError',
        'InputError',
        'CorruptError',
        'SlotError',
        'VerityMismatchError',
        'ToolError',
        'ImageBusyError',
      ]),
    );
    // Internals stay out: codecs are behind their subpaths, helpers behind nothing.
    for (const internal of [
      'crc32',
      'encodeHeader',
      'decodeEntry',
      'encodeVeritySuperblock',
      'TreeHasher',
      'makeEsp',
      'signPe',
      'mksquashfsReproducible',
      'writeUsrToSlot',
      'OUTPUT_SCHEMAS',
      'onInterrupt',
    ]) {
      expect(root, internal).not.toContain(internal);
    }
    expect((root as string[]).length).toBeLessThan(200);
  });

  it('the subpaths hold their layers, and the error classes are the same objects in every entry', async () => {
    expect(await exportsOf('@imgbuild/core/gpt')).toEqual(
      expect.arrayContaining(['readGpt', 'writeGpt', 'encodeHeader', 'decodeEntry', 'crc32', 'getBootBits']),
    );
    expect(await exportsOf('@imgbuild/core/verity')).toEqual(
      expect.arrayContaining(['formatVerity', 'verifyVerity', 'decodeVeritySuperblock', 'verityGeometry', 'maxDataBlocks']),
    );
    expect(await exportsOf('@imgbuild/core/slots')).toEqual(
      expect.arrayContaining(['readSlotStatus', 'applySlotTransition', 'markSuccessful', 'rollback', 'withRawImage']),
    );
    expect(await exportsOf('@imgbuild/core/errors')).toEqual(expect.arrayContaining(['ImgbuildError', 'UsageError', 'fsError', 'userPathOf']));
    expect(await exportsOf('@imgbuild/core/arch')).toEqual(expect.arrayContaining(['parseArchitecture', 'ARCHITECTURE_NAMES']));
    expect(await exportsOf('@imgbuild/core/layouts')).toEqual(expect.arrayContaining(['BUILTIN_LAYOUTS', 'BUILTIN_LAYOUT_NAMES']));
    const same = await execa(
      'node',
      [
        '--input-type=module',
        '-e',
        "const a = await import('@imgbuild/core'); const b = await import('@imgbuild/core/errors'); console.log(a.InputError === b.InputError)",
      ],
      { cwd: join(ROOT, 'packages/cli') },
    );
    expect(String(same.stdout).trim()).toBe('true');
  });

  it('refuses an internal module path, so the tree behind the entries can move', async () => {
    expect(await exportsOf('@imgbuild/core/gpt/header')).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
    expect(await exportsOf('@imgbuild/core/verity/index')).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  it('serves the JSON Schemas by path, for editors and validators', async () => {
    const r = await execa(
      'node',
      [
        '--input-type=module',
        '-e',
        "import { createRequire } from 'node:module'; console.log(createRequire(import.meta.url).resolve('@imgbuild/core/schemas/manifest.schema.json'))",
      ],
      { cwd: join(ROOT, 'packages/cli') },
    );
    expect(String(r.stdout).trim()).toMatch(/packages\/core\/schemas\/manifest\.schema\.json$/);
  });
});
