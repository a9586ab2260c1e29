/**
 * `imgbuild qemu --tpm` without waiting for a boot: swtpm is started with its state in `<image>.tpm/`
 * (or --tpm-state), the firmware initialises the TPM (its permanent state appears), and swtpm is gone
 * when the command returns. The TPM as a guest sees it: test/boot/os.test.ts.
 */
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { fakeBzImage, imgbuild, ROOT, tempDir, tool } from './helpers.js';

const dir = tempDir('imgbuild-qemu-tpm-');
const img = join(dir, 'disk.raw');

/** swtpm processes whose command line names `stateDir` (read from ps; nothing is signalled). */
async function swtpmsFor(stateDir: string): Promise<string[]> {
  const ps = await execa('ps', ['-eo', 'args'], { reject: false });
  return String(ps.stdout)
    .split('\n')
    .filter((l) => l.startsWith('swtpm') && l.includes(stateDir));
}

beforeAll(async () => {
  const tree = join(dir, 'tree');
  cpSync(join(ROOT, 'examples/usr'), tree, { recursive: true });
  await tool('mksquashfs', [tree, join(dir, 'usr.squashfs'), '-noappend', '-all-root', '-quiet']);
  writeFileSync(join(dir, 'vmlinuz'), fakeBzImage());
  writeFileSync(join(dir, 'initrd'), randomBytes(1000));
  const r = await imgbuild(['build', '--from', join(dir, 'usr.squashfs'), '--kernel', join(dir, 'vmlinuz'), '--initrd', join(dir, 'initrd'), '-o', img]);
  expect(r.exitCode, String(r.stderr)).toBe(0);
});

describe('imgbuild qemu --tpm', () => {
  it('keeps the TPM state beside the image and stops swtpm with the machine', async () => {
    const r = await imgbuild(['qemu', img, '--tpm', '--timeout', '6', '--json']);
    const j = JSON.parse(String(r.stdout));
    expect(j.tpmStateDir).toBe(`${img}.tpm`);
    expect(existsSync(join(`${img}.tpm`, 'tpm2-00.permall')), 'the firmware initialised the TPM').toBe(true);
    expect(await swtpmsFor(`${img}.tpm`)).toEqual([]);
  });

  it('--tpm-state names another folder; without --tpm no TPM is attached', async () => {
    const state = join(dir, 'node-1-tpm');
    const r = await imgbuild(['qemu', img, '--tpm-state', state, '--timeout', '4', '--json']);
    expect(JSON.parse(String(r.stdout)).tpmStateDir).toBe(state);
    expect(existsSync(join(state, 'tpm2-00.permall'))).toBe(true);
    const plain = await imgbuild(['qemu', img, '--timeout', '2', '--json']);
    expect(JSON.parse(String(plain.stdout)).tpmStateDir).toBeUndefined();
  });
});
