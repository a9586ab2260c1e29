/**
 * Issue #9, data loss: `--force` replaces a regular file and nothing else. A directory (with the
 * user's files in it), a FIFO, a symlink to a directory are refused by `gpt create` and `build`
 * whatever the flags, and survive untouched; a qemu_uefi bundle folder is not replaced either.
 * `verity format DATA` without a HASHFILE changes DATA only with --force.
 * Needs a build (`npm run build`): it runs packages/cli/dist.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { fakeBzImage, imgbuild, ROOT, tempDir, tool } from './helpers.js';

const dir = tempDir('imgbuild-output-safety-');
const kernel = join(dir, 'vmlinuz');
const initrd = join(dir, 'initrd.img');
const usr = join(dir, 'usr.squashfs');
const env = { SOURCE_DATE_EPOCH: '1700000000' };

beforeAll(async () => {
  writeFileSync(kernel, fakeBzImage());
  writeFileSync(initrd, randomBytes(100_000));
  const tree = join(dir, 'usrtree');
  cpSync(join(ROOT, 'examples/usr'), tree, { recursive: true });
  await tool('mksquashfs', [tree, usr, '-noappend', '-all-root', '-quiet']);
});

let n = 0;
/** Each kind of thing `-o` may name that is not a regular file, with a check that it survived. */
function victims(): { name: string; path: string; survived: () => void }[] {
  const i = n++;
  const folder = join(dir, `folder${i}`);
  mkdirSync(folder);
  writeFileSync(join(folder, 'precious.txt'), 'keep me');
  const fifo = join(dir, `fifo${i}`);
  execFileSync('mkfifo', [fifo]);
  const linked = join(dir, `linked${i}`);
  mkdirSync(linked);
  writeFileSync(join(linked, 'precious.txt'), 'keep me too');
  const link = join(dir, `link${i}`);
  symlinkSync(linked, link);
  return [
    { name: 'a directory with a file in it', path: folder, survived: () => expect(readFileSync(join(folder, 'precious.txt'), 'utf8')).toBe('keep me') },
    { name: 'a FIFO', path: fifo, survived: () => expect(lstatSync(fifo).isFIFO()).toBe(true) },
    {
      name: 'a symlink to a directory',
      path: link,
      survived: () => {
        expect(lstatSync(link).isSymbolicLink()).toBe(true);
        expect(readFileSync(join(linked, 'precious.txt'), 'utf8')).toBe('keep me too');
      },
    },
  ];
}

function refusedInOneLine(r: { exitCode?: number; stderr: unknown }, path: string) {
  expect(r.exitCode).not.toBe(0);
  const err = String(r.stderr);
  expect(err.trim().split('\n')).toHaveLength(1);
  expect(err).toContain(path);
  expect(err).toMatch(/never|only ever replaces a regular file/);
}

describe('gpt create -o X --force', () => {
  it('refuses a directory, a FIFO and a symlink to a directory, and leaves them as they were', async () => {
    for (const v of victims()) {
      const r = await imgbuild(['gpt', 'create', '--layout', 'mini', '-o', v.path, '--force']);
      refusedInOneLine(r, v.path);
      v.survived();
    }
  });
  it('replaces a regular file', async () => {
    const f = join(dir, 'plain.img');
    writeFileSync(f, 'old');
    const r = await imgbuild(['gpt', 'create', '--layout', 'mini', '-o', f, '--force']);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(statSync(f).size).toBeGreaterThan(1 << 20);
  });
});

describe('build -o X --force', () => {
  const build = (out: string, extra: string[] = []) =>
    imgbuild(['build', '--from', usr, '--kernel', kernel, '--initrd', initrd, '--layout', 'mini', '--seed', 't', '-o', out, '--force', ...extra], { env });

  it('refuses a directory, a FIFO and a symlink to a directory (raw), and leaves them as they were', async () => {
    for (const v of victims()) {
      refusedInOneLine(await build(v.path), v.path);
      v.survived();
    }
  });
  it('refuses an existing folder for a qemu_uefi bundle too, and says so in --help', async () => {
    const [folder] = victims();
    refusedInOneLine(await build(folder.path, ['--format', 'qemu_uefi']), folder.path);
    folder.survived();
    const help = String((await imgbuild(['build', '--help'])).stdout).replace(/\s+/g, ' ');
    expect(help).toMatch(/--force .*an existing folder, a qemu_uefi bundle included, is never replaced/);
  });
  it('replaces a regular file', async () => {
    const f = join(dir, 'plain-build.raw');
    writeFileSync(f, 'old');
    const r = await build(f);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(statSync(f).size).toBeGreaterThan(1 << 20);
    expect(existsSync(`${f}.manifest.json`)).toBe(true);
  });
});

describe('verity format DATA (no HASHFILE)', () => {
  it('without --force leaves DATA byte for byte, exits 1 and names the flag', async () => {
    const data = join(dir, 'data.sqfs');
    const bytes = randomBytes(16 * 4096);
    writeFileSync(data, bytes);
    const r = await imgbuild(['verity', 'format', data]);
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr).trim().split('\n')).toHaveLength(1);
    expect(String(r.stderr)).toMatch(/data\.sqfs: .*grow.*--force/);
    expect(statSync(data).size).toBe(bytes.length);
    expect(readFileSync(data).equals(bytes)).toBe(true);
    // the same for a write inside the file at --hash-offset
    const r2 = await imgbuild(['verity', 'format', data, '--data-blocks', '4', '--hash-offset', String(8 * 4096)]);
    expect(r2.exitCode).toBe(1);
    expect(String(r2.stderr)).toMatch(/overwrite .*--force/);
    expect(readFileSync(data).equals(bytes)).toBe(true);
  });
  it('with --force appends the tree as before (veritysetup verifies it)', async () => {
    const data = join(dir, 'data2.sqfs');
    const bytes = randomBytes(16 * 4096);
    writeFileSync(data, bytes);
    const r = await imgbuild(['verity', 'format', data, '--force', '--json']);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const out = JSON.parse(String(r.stdout)) as { rootHash: string; hashOffset: number };
    expect(out.hashOffset).toBe(bytes.length);
    expect(statSync(data).size).toBeGreaterThan(bytes.length);
    expect(readFileSync(data).subarray(0, bytes.length).equals(bytes)).toBe(true);
    await tool('veritysetup', ['verify', data, data, out.rootHash, `--hash-offset=${out.hashOffset}`]);
  });
  it('--help documents the flag with an example', async () => {
    const help = String((await imgbuild(['verity', 'format', '--help'])).stdout);
    expect(help).toMatch(/imgbuild verity format usr\.squashfs --force/);
  });
});
