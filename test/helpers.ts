/** Shared helpers for integration tests: run the built CLI and the reference tools, temp folders. */
import { execa, type Options } from 'execa';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// The shipped entry: it runs the esbuild bundle (packages/cli/dist/bundle) that `npm run build` makes.
export const CLI = join(ROOT, 'packages/cli/bin/imgbuild.js');

/** Runs `imgbuild ...args`; never throws on a non-zero exit, so tests can assert on it. */
export function imgbuild(args: string[], opts: Options = {}) {
  return execa('node', [CLI, ...args], { reject: false, ...opts });
}

/** Runs a reference tool; throws (with its stderr) when it fails unless reject:false. */
export function tool(cmd: string, args: string[], opts: Options = {}) {
  return execa(cmd, args, opts);
}

/** A temporary folder removed after the test file finishes. */
export function tempDir(prefix = 'imgbuild-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/**
 * Random bytes behind an x86 boot protocol header (boot flag, "HdrS", protocol 2.15, 2047-byte
 * command line): enough for the UKI builder, for tests that build images without booting them.
 */
export function fakeBzImage(size = 200_000): Buffer {
  const k = randomBytes(size);
  k.write('MZ', 0, 'latin1');
  k.writeUInt32LE(0x80, 0x3c); // PE header past 0x40..0x7f, where --boot-style flatcar puts the root hash
  k.writeUInt16LE(0xaa55, 0x1fe);
  k.write('HdrS', 0x202, 'latin1');
  k.writeUInt16LE(0x020f, 0x206);
  k.writeUInt32LE(2047, 0x238);
  return k;
}

/**
 * The example /usr with `VERSION_ID=version`, packed reproducibly (SOURCE_DATE_EPOCH 1700000000) into
 * `dir/usr-VERSION.squashfs`; returns its path.
 */
export async function makeUsr(dir: string, version: string): Promise<string> {
  const tree = join(dir, `tree-${version}`);
  cpSync(join(ROOT, 'examples/usr'), tree, { recursive: true });
  writeFileSync(join(tree, 'lib/os-release'), `ID=imgbuild-example\nVERSION_ID=${version}\n`);
  const out = join(dir, `usr-${version}.squashfs`);
  await tool('mksquashfs', [tree, out, '-noappend', '-all-root', '-quiet', '-mkfs-time', '1700000000', '-all-time', '1700000000']);
  return out;
}

let copies = 0;
/** A copy of an image and its manifest, under a new name in `dir`, for a test that changes it. */
export function copyOfImage(image: string, dir: string): string {
  const copy = join(dir, `img${copies++}.raw`);
  cpSync(image, copy);
  cpSync(`${image}.manifest.json`, `${copy}.manifest.json`);
  return copy;
}

/**
 * Makes `dir` a program's folder in which `@imgbuild/core` resolves to this package, as an installed
 * dependency would, with a strict NodeNext tsconfig over its *.ts files.
 */
export function coreConsumer(dir: string, name: string): void {
  mkdirSync(join(dir, 'node_modules/@imgbuild'), { recursive: true });
  symlinkSync(join(ROOT, 'packages/core'), join(dir, 'node_modules/@imgbuild/core'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, private: true, type: 'module' }));
  const compilerOptions = { target: 'ES2022', lib: ['ES2022'], module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: ['node'], typeRoots: [join(ROOT, 'node_modules/@types')] };
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, include: ['*.ts'] }));
}
