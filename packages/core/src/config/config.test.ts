/**
 * The build file's pure half: parsing (errors name the key path and suggest the nearest key),
 * merging (flags over keys), resolving (paths against each layer's folder, defaults), the portable
 * form the manifest records, and a recipe's outputs. The CLI end to end: test/build-file.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { InputError } from '../errors.js';
import { editDistance, nearestWord } from '../nearest.js';
import { parseBuildConfig, parseBuildConfigText } from './parse.js';
import { applyRecipeOutputs, parseRecipeOutput } from './recipe.js';
import { completeBuildConfig, mergeBuildConfigs, portableConfig, resolveBuildConfig } from './resolve.js';
import { buildConfigSchema, resolvedBuildConfigSchema } from './schema.js';
import { buildOptionsOf } from './build.js';

const problem = (json: unknown) => {
  try {
    parseBuildConfig(json, 'imgbuild.json');
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    expect((e as InputError).file).toBe('imgbuild.json');
    return (e as Error).message;
  }
  throw new Error('accepted');
};

describe('parseBuildConfig', () => {
  it('accepts a complete file, $schema included', () => {
    const c = {
      $schema: './build-config.schema.json',
      layout: 'flatcar',
      arch: 'amd64',
      seed: 's',
      version: '1',
      inputs: { from: 'usr.squashfs', kernel: 'k', initrd: 'i', rootTree: 'root', osRelease: 'o', selector: 'sel', recipe: { run: ['bash', 'x.sh'] } },
      cmdline: 'quiet',
      bootStyle: 'flatcar',
      extensions: [{ fromDir: 'hello', name: 'hello', version: '1.0', osId: 'debian', osVersionId: '12', fs: 'erofs' }],
      signing: { key: 'db.key', cert: 'db.crt', passFile: 'pass', secureBoot: true },
      outputs: { format: 'qemu_uefi', path: 'out/vm', imageSha256: true },
    };
    expect(parseBuildConfig(c)).toEqual(c);
    expect(parseBuildConfig({})).toEqual({});
  });

  it('names an unknown key by its path and suggests the nearest valid one', () => {
    expect(problem({ outputs: { fromat: 'raw' } })).toBe('unknown key outputs.fromat (did you mean outputs.format?)');
    expect(problem({ layuot: 'mini' })).toBe('unknown key layuot (did you mean layout?)');
    expect(problem({ inputs: { kernal: 'k' } })).toBe('unknown key inputs.kernal (did you mean inputs.kernel?)');
    expect(problem({ extensions: [{ fromDir: 'd', name: 'n', version: '1', osid: 'x' }] })).toBe('unknown key extensions[0].osid (did you mean extensions[0].osId?)');
    // nothing near: no guess
    expect(problem({ colour: 'blue' })).toBe('unknown key colour');
  });

  it('names the key path of a wrong type or value, and what was found', () => {
    expect(problem({ outputs: { imageSha256: 'yes' } })).toBe('outputs.imageSha256: expected true or false (also record the sha256 of the whole raw image), got string "yes"');
    expect(problem({ outputs: { format: 'qcow2' } })).toBe('outputs.format: expected "raw" or "qemu_uefi" (the output format), got string "qcow2"');
    expect(problem({ inputs: { kernel: 42 } })).toBe('inputs.kernel: expected a path (the kernel image), got number 42');
    expect(problem({ arch: 'riscv64' })).toMatch(/^arch: expected "x86-64" or "x86_64" .* got string "riscv64"$/);
    expect(problem({ inputs: { recipe: { run: 'bash x.sh' } } })).toMatch(/^inputs\.recipe\.run: expected the command as a list of words/);
    expect(problem({ extensions: [{ fromDir: 'd', version: '1' }] })).toBe('extensions[0]: missing "name" (expected the extension name)');
    expect(problem([])).toMatch(/^a build file is a JSON object .* got a list$/);
    expect(problem({ layout: 'flatcr' })).toBe('layout: unknown layout "flatcr" (did you mean "flatcar"?) (built-in: flatcar, flatcar-2025, sysupdate, sysupdate-mini, mini; or a path to a layout file)');
    expect(parseBuildConfig({ layout: 'layouts/mine.json' }).layout).toBe('layouts/mine.json');
  });

  it('says when the text is not JSON', () => {
    expect(() => parseBuildConfigText('{ "layout": ', 'imgbuild.json')).toThrow(/^not valid JSON/);
  });
});

describe('nearestWord', () => {
  it('finds a typo within two edits, not an unrelated word', () => {
    expect(editDistance('fromat', 'format')).toBe(2);
    expect(nearestWord('fromat', ['format', 'path', 'imageSha256'])).toBe('format');
    expect(nearestWord('Seed', ['seed', 'layout'])).toBe('seed');
    expect(nearestWord('xyz', ['seed', 'layout'])).toBeUndefined();
    expect(nearestWord('a', ['to'])).toBeUndefined();
  });
});

describe('resolving', () => {
  it('takes the file\'s paths against its folder and keeps the flags\' (relative to the current one); flags win key by key', () => {
    const c = resolveBuildConfig({
      file: { layout: 'my-layout.json', inputs: { fromDir: 'usr', kernel: 'boot/vmlinuz', initrd: '/abs/initrd' }, outputs: { format: 'raw', path: 'out/disk.raw' }, seed: 'file' },
      fileDir: 'proj',
      flags: { inputs: { kernel: 'other/vmlinuz' }, seed: 'flag' },
    });
    expect(c.layout).toBe('proj/my-layout.json');
    expect(c.inputs).toMatchObject({ fromDir: 'proj/usr', kernel: 'other/vmlinuz', initrd: '/abs/initrd' });
    expect(c.seed).toBe('flag');
    expect(c.outputs).toEqual({ format: 'raw', path: 'proj/out/disk.raw', imageSha256: false });
    expect(resolvedBuildConfigSchema.safeParse(c).success).toBe(true);
    // `-c imgbuild.json`: paths stay as written
    expect(resolveBuildConfig({ file: { inputs: { fromDir: 'usr' } }, fileDir: '.' }).inputs.fromDir).toBe('usr');
  });

  it('a /usr named by flags replaces the file\'s, whichever key each uses', () => {
    const file = { inputs: { fromDir: 'usr', kernel: 'k' } };
    expect(resolveBuildConfig({ file, fileDir: 'p', flags: { inputs: { from: 'v2.squashfs' } } }).inputs).toMatchObject({ from: 'v2.squashfs', fromDir: null, kernel: 'p/k' });
  });

  it('keeps a built-in layout name, fills the defaults, and puts the default output beside the build file', () => {
    const c = resolveBuildConfig({ file: { layout: 'flatcar', arch: 'aarch64', outputs: { format: 'qemu_uefi' } }, fileDir: '/proj' });
    expect(c).toMatchObject({ layout: 'flatcar', arch: 'arm64', cmdline: null, bootStyle: 'uki', seed: null, outputs: { path: '/proj/image_qemu_uefi' } });
    expect(resolveBuildConfig({}).outputs.path).toBe('image.raw');
    expect(resolveBuildConfig({}).layout).toBe('mini');
  });

  it('merges objects key by key and replaces lists', () => {
    const m = mergeBuildConfigs(
      { signing: { key: 'a', cert: 'b' }, extensions: [{ fromDir: 'x', name: 'x', version: '1' }] },
      { signing: { key: 'c' }, extensions: [], outputs: undefined },
    );
    expect(m).toEqual({ signing: { key: 'c', cert: 'b' }, extensions: [] });
  });

  it('records paths relative to the build file\'s folder, so another checkout records the same', () => {
    const at = (dir: string) => portableConfig(resolveBuildConfig({ file: { inputs: { from: 'usr.sqfs', kernel: '../kit/k' }, outputs: { path: 'out/a.raw' } }, fileDir: dir }), dir);
    expect(at('/a/proj')).toEqual(at('/b/c/proj'));
    expect(at('/a/proj').inputs).toMatchObject({ from: 'usr.sqfs', kernel: '../kit/k' });
    expect(at('/a/proj').outputs.path).toBe('out/a.raw');
    const signed = resolveBuildConfig({ file: { signing: { key: 'db.key', cert: 'db.crt', passFile: '/secret/pass' } }, fileDir: '/a' });
    expect(signed.signing.passFile).toBe('/secret/pass');
    expect(portableConfig(signed, '/a').signing).toEqual({ key: 'db.key', cert: 'db.crt', passFile: null, secureBoot: false });
  });
});

describe('recipes', () => {
  it('reads the last usr= root= kernel= initrd= version= lines, paths against where it ran', () => {
    const out = parseRecipeOutput('progress...\nkernel=/old\nusr=/c/usr.squashfs\nroot=tree\nkernel=/k/vmlinuz\ninitrd=/k/initrd\nversion=2\nkernel_package=linux\n', '/proj');
    expect(out).toEqual({ usr: '/c/usr.squashfs', root: '/proj/tree', kernel: '/k/vmlinuz', initrd: '/k/initrd', version: '2' });
  });

  it('fills only what the file and flags leave unset; a /usr only when there is none', () => {
    const base = completeBuildConfig({ inputs: { fromDir: '/usr-tree', kernel: '/mine' } }, '/p');
    const c = applyRecipeOutputs(base, { usr: '/u', kernel: '/k', initrd: '/i', root: '/r', version: '3' });
    expect(c.inputs).toMatchObject({ from: null, fromDir: '/usr-tree', kernel: '/mine', initrd: '/i', rootTree: '/r' });
    expect(c.version).toBe('3');
  });
});

describe('buildOptionsOf', () => {
  it('names the missing key in a file, the flag without one', () => {
    const c = completeBuildConfig({ inputs: { fromDir: '/u', initrd: '/i' } }, '/p');
    expect(() => buildOptionsOf(c, { file: 'imgbuild.json' })).toThrow('no kernel: set inputs.kernel (or give --kernel, or a recipe that makes it)');
    expect(() => buildOptionsOf(c, {})).toThrow('no kernel: give --kernel (or write a build file, imgbuild.json)');
    const both = completeBuildConfig({ inputs: { from: '/a', fromDir: '/u', kernel: '/k', initrd: '/i' } }, '/p');
    expect(() => buildOptionsOf(both, { file: 'imgbuild.json' })).toThrow(/inputs.from or inputs.fromDir, not both/);
    const half = completeBuildConfig({ inputs: { from: '/a', kernel: '/k', initrd: '/i' }, signing: { key: '/db.key' } }, '/p');
    expect(() => buildOptionsOf(half, { file: 'imgbuild.json' })).toThrow(/signing: give both the key and the certificate/);
    const owned = completeBuildConfig({ inputs: { from: '/a', kernel: '/k', initrd: '/i' }, cmdline: 'quiet usrhash=00' }, '/p');
    expect(() => buildOptionsOf(owned, { file: 'imgbuild.json' })).toThrow(expect.objectContaining({ kind: 'input', message: expect.stringMatching(/^cmdline may not set usrhash/) }));
    const ext = completeBuildConfig({ inputs: { from: '/a', kernel: '/k', initrd: '/i' }, extensions: [{ fromDir: '/h', name: 'h', version: '1' }] }, '/p');
    expect(() => buildOptionsOf(ext, { file: 'imgbuild.json' })).toThrow("extensions need inputs.rootTree: they go into ROOT's var/lib/extensions/");
  });

  it('maps every key to the build option', () => {
    const c = completeBuildConfig(
      { layout: 'flatcar', seed: 's', inputs: { from: '/a', kernel: '/k', initrd: '/i', rootTree: '/r' }, cmdline: 'quiet', signing: { key: '/k.pem', cert: '/c.pem' }, outputs: { path: '/o.raw', imageSha256: true } },
      '/p',
    );
    expect(buildOptionsOf(c, { force: true })).toMatchObject({ from: '/a', kernel: '/k', initrd: '/i', rootTree: '/r', layout: 'flatcar', seed: 's', cmdline: 'quiet', sign: { key: '/k.pem', cert: '/c.pem' }, output: '/o.raw', imageSha256: true, force: true, format: 'raw', arch: 'x86-64' });
  });
});

it('the file schema has every key the resolved one has (one vocabulary)', () => {
  expect(Object.keys(buildConfigSchema.shape).filter((k) => k !== '$schema').sort()).toEqual(Object.keys(resolvedBuildConfigSchema.shape).sort());
});
