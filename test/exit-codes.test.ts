/**
 * The CLI's contract with scripts (README "CLI reference"): exit 2 for every usage error — commander's
 * own (unknown command or option, bad choice, missing argument) and ours (unknown layout name, flag
 * values out of range) —, exit 1 for an operation that failed; and an error is exactly one line on
 * stderr naming the path the user gave, with no "Error:", no stack frame, no errno code, no temporary
 * name. A closed stdout (`| head -1`) ends the command quietly.
 * Needs a build (`npm run build`): it runs packages/cli/dist.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ImgbuildError, LayoutError } from '@imgbuild/core';
import { errorLine } from '../packages/cli/src/output.js';
import { CLI, imgbuild, tempDir, tool } from './helpers.js';

const dir = tempDir('imgbuild-exit-codes-');
const p = (name: string) => join(dir, name);
const img = p('disk.img');
const qcow2 = p('disk.qcow2');
const data = p('data.bin');

beforeAll(async () => {
  expect((await imgbuild(['gpt', 'create', '--layout', 'mini', '-o', img])).exitCode).toBe(0);
  await tool('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', img, qcow2]);
  writeFileSync(data, randomBytes(8 * 4096));
  writeFileSync(p('empty.img'), '');
  writeFileSync(p('k'), 'k');
  mkdirSync(p('folder'));
  writeFileSync(p('folder/inside'), 'x');
});

const USAGE = 2;
const FAILED = 1;

/** [arguments, exit code, what stderr must match] */
const table: [string[], number, RegExp][] = [
  // commander's own usage errors
  [['no-such-command'], USAGE, /unknown command 'no-such-command'/],
  [['gpt', 'create', '--layout', 'mini', '-o', p('x.img'), '--bogus'], USAGE, /unknown option '--bogus'/],
  [['gpt', 'show'], USAGE, /missing required argument 'image'/],
  [['build', '--kernel', p('k'), '--initrd', p('k'), '--from', data, '--format', 'vmdk'], USAGE, /'vmdk' is invalid.*raw, qemu_uefi/],
  [['slot', 'next', img, '--variant', 'android'], USAGE, /'android' is invalid/],
  // ours
  [['gpt', 'create', '--layout', 'no-such-layout', '-o', p('x.img')], USAGE, /unknown layout "no-such-layout"/],
  [['layout', 'show', 'no-such-layout'], USAGE, /unknown layout "no-such-layout"/],
  [['build', '--kernel', p('k'), '--initrd', p('k'), '--from', data, '--layout', 'no-such-layout'], USAGE, /unknown layout/],
  [['slot', 'set', img, 'B', '--priority', '99'], USAGE, /--priority must be an integer 0-15, got "99"/],
  [['slot', 'set', img, 'B', '--successful', '2'], USAGE, /--successful must be 0 or 1/],
  [['slot', 'prioritize', img, 'C'], USAGE, /disk\.img: unknown slot "C"/],
  [['verity', 'format', data, p('h1'), '--jobs', '0'], USAGE, /--jobs must be at least 1/],
  [['verity-verify', data, '--root-hash', 'zz', '--hash-offset', '0'], USAGE, /root hash must be hex/],
  // operations that failed
  [['gpt', 'show', p('missing.img')], FAILED, /missing\.img: no such file$/],
  [['gpt', 'show', p('folder')], FAILED, /folder: is a directory, expected a raw disk image/],
  [['gpt', 'repair', p('empty.img')], FAILED, /empty\.img: no GPT/],
  [['gpt', 'show', qcow2], FAILED, /disk\.qcow2: is a qcow2 image; give the raw image or the qemu_uefi bundle folder$/],
  [['slot', 'status', qcow2], FAILED, /disk\.qcow2: is a qcow2 image; give the raw image or the qemu_uefi bundle folder$/],
  [['verity-verify', qcow2, '--slot', 'A', '--root-hash', '00'], FAILED, /disk\.qcow2: is a qcow2 image; give the raw image or the qemu_uefi bundle folder$/],
  [['update', qcow2, '--from', data], FAILED, /disk\.qcow2: is a qcow2 image; give the raw image or the qemu_uefi bundle folder$/],
  [['verify', qcow2], FAILED, /disk\.qcow2: is a qcow2 image; give the raw image or the qemu_uefi bundle folder$/],
  [['slot', 'status', p('missing.img')], FAILED, /missing\.img: no such file$/],
  [['slot', 'mark-successful', img, 'B'], FAILED, /disk\.img: cannot mark successful slot B .*holds no \/usr/],
  [['gpt', 'create', '--layout', 'mini', '-o', p('folder'), '--force'], FAILED, /folder: output exists and is a directory/],
  [['gpt', 'create', '--layout', 'mini', '-o', p('no-such-dir/x.img')], FAILED, /x\.img: output folder does not exist/],
  [['verity', 'format', data], FAILED, /data\.bin: .*--force/],
  [['verity', 'format', p('folder'), p('h2')], FAILED, /folder: data file is not a regular file/],
  [['layout', 'show', p('missing.json')], FAILED, /missing\.json: cannot read layout: no such file$/],
];

function oneCleanLine(stderr: string) {
  const lines = stderr.replace(/\n$/, '').split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^imgbuild: /);
  expect(lines[0]).not.toMatch(/Error:|^\s+at |\bE(NOENT|ISDIR|ACCES|NOSPC|NOTDIR|EXIST|ROFS|PERM|PIPE|BADF|INVAL)\b|\.tmp-\d/);
}

describe('exit codes and one-line errors', () => {
  it.each(table)('imgbuild %j exits %i', async (args, code, message) => {
    const r = await imgbuild(args);
    expect(r.exitCode, String(r.stderr)).toBe(code);
    oneCleanLine(String(r.stderr));
    expect(String(r.stderr).trim()).toMatch(message);
  });

  it('help and version exit 0', async () => {
    for (const args of [['--help'], ['--version'], ['slot', 'prioritize', '--help']]) expect((await imgbuild(args)).exitCode).toBe(0);
  });
});

describe('errorLine: the path the user gave, words for errno codes', () => {
  const sysErr = (code: string, path: string, msg: string) => Object.assign(new Error(`${code}: ${msg}, open '${path}'`), { code, path, errno: -1, syscall: 'open' });
  it('maps a temporary name back to the target and the code to words', () => {
    expect(errorLine(sysErr('EISDIR', '/w/.x.raw.tmp-4142-9f3a1b2c', 'illegal operation on a directory'))).toBe('/w/x.raw: is a directory, expected a file');
    expect(errorLine(sysErr('ENOSPC', '/w/.out.img.tmp-77-00ff00ff', 'no space left on device'))).toBe('/w/out.img: no space left on the device');
    expect(errorLine(sysErr('EACCES', '/w/a.img', 'permission denied'))).toBe('/w/a.img: permission denied');
    expect(errorLine(new ImgbuildError('hash area does not fit', { file: '/w/.x.raw.tmp-9-abcdef01' }))).toBe('/w/x.raw: hash area does not fit');
  });
  it('a system error without a path is named after the command subject; library text with errno in it is cleaned', () => {
    expect(errorLine(Object.assign(new Error('EISDIR: illegal operation on a directory, read'), { code: 'EISDIR' }), 'disk.img')).toBe('disk.img: is a directory, expected a file');
    expect(errorLine(new LayoutError("cannot read layout: EACCES: permission denied, open 'l.json'", { file: 'l.json' }))).toBe('l.json: cannot read layout: permission denied');
    expect(errorLine(new TypeError('x is undefined\n    at foo (bar.js:1:1)'))).toBe('internal error: x is undefined');
  });
});

describe('a closed stdout (imgbuild ... | head -1)', () => {
  it('exits quietly: status 0, nothing on stderr', async () => {
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const c = spawn('node', [CLI, 'layout', 'show', 'flatcar-2025', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
      c.stdout.destroy(); // the reader is gone before the first write: that write fails with EPIPE
      let stderr = '';
      c.stderr.on('data', (d) => (stderr += d));
      c.on('close', (code) => resolve({ code, stderr }));
    });
    expect(r.stderr).toBe('');
    expect([0, 141]).toContain(r.code);
  });
});
