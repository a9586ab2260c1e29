/** `imgbuild qemu` without a bootable image: argument errors, missing files, and the timeout path. */
import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { imgbuild, tempDir } from '../helpers.js';

const dir = tempDir('imgbuild-qemu-cli-');

describe('imgbuild qemu', () => {
  it('rejects a bad --timeout as a usage error (exit 2)', async () => {
    const r = await imgbuild(['qemu', join(dir, 'x.img'), '--timeout', 'soon']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/--timeout must be a positive number/);
  });

  it('names a missing image (exit 1)', async () => {
    const r = await imgbuild(['qemu', join(dir, 'missing.img')]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/missing\.img: no such image/);
  });

  it('kills qemu at the timeout and reports it (a disk the firmware cannot boot)', async () => {
    const img = join(dir, 'blank.img');
    const g = await imgbuild(['gpt', 'create', '--layout', 'mini', '-o', img]);
    expect(g.exitCode, String(g.stderr)).toBe(0);
    const t = Date.now();
    const r = await imgbuild(['qemu', img, '--timeout', '4', '--json', '--log', join(dir, 'blank.log')]);
    expect(Date.now() - t).toBeLessThan(30_000);
    expect(r.exitCode).toBe(1);
    const j = JSON.parse(String(r.stdout));
    expect(j).toMatchObject({ slot: null, usrhash: null, version: null, health: 'fail', timedOut: true, logPath: join(dir, 'blank.log'), selector: { lines: [], choices: [] } });
    expect(j.failure.reason).toBe('timeout');
  }, 60_000);
});

describe('imgbuild qemu on something that is not a disk', () => {
  it('says so at once instead of waiting for the timeout', async () => {
    const f = join(dir, 'not-a-disk.img');
    writeFileSync(f, Buffer.alloc(1 << 20, 7));
    const t = Date.now();
    const r = await imgbuild(['qemu', f]);
    expect(Date.now() - t).toBeLessThan(10_000);
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr)).toMatch(/not-a-disk\.img: not a disk image: no valid GPT/);
  });
});
