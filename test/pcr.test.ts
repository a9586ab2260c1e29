/**
 * The manifest's PCR 11 predictions (boot.slots.X.pcr11, from attest/pcr.ts) against the reference:
 * `systemd-measure calculate` on the sections objcopy cuts out of the UKI on the ESP. After build (A)
 * and after update (B); `verify` passes, and fails naming PCR 11 when a recorded value is edited.
 * The boot test (test/boot/os.test.ts) checks the same values against a TPM.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { fakeBzImage, imgbuild, makeUsr, tempDir, tool } from './helpers.js';

const dir = tempDir('imgbuild-pcr-');
const img = join(dir, 'disk.raw');
const env = { SOURCE_DATE_EPOCH: '1700000000' };
const MEASURE = '/lib/systemd/systemd-measure';
const manifest = () => JSON.parse(readFileSync(`${img}.manifest.json`, 'utf8'));

/** systemd-measure's values for the slot's UKI: after the stub alone, then after each phase. */
async function measure(slot: 'A' | 'B') {
  const m = manifest();
  const esp = m.partitions.find((p: any) => p.role === 'esp');
  const uki = join(dir, `uki-${slot}.efi`);
  await tool('mcopy', ['-n', '-i', `${img}@@${esp.firstLba * 512}`, `::${m.boot.slots[slot].uki}`, uki], { env: { MTOOLS_SKIP_CHECK: '1' } });
  const args: string[] = [];
  for (const s of ['linux', 'osrel', 'cmdline', 'initrd']) {
    await tool('objcopy', ['-O', 'binary', `--only-section=.${s}`, uki, `${uki}.${s}`]);
    args.push(`--${s}=${uki}.${s}`);
  }
  const phases = ['', 'enter-initrd', 'enter-initrd:leave-initrd', 'enter-initrd:leave-initrd:sysinit', 'enter-initrd:leave-initrd:sysinit:ready'];
  const r = await tool(MEASURE, ['calculate', ...args, '--bank=sha256', '--json=short', ...phases.map((p) => `--phase=${p}`)]);
  const v = (JSON.parse(String(r.stdout)) as { sha256: Array<{ pcr: number; hash: string }> }).sha256.map((x) => x.hash);
  expect(v).toHaveLength(5);
  return { uki: v[0], 'enter-initrd': v[1], 'leave-initrd': v[2], sysinit: v[3], ready: v[4] };
}

async function verify() {
  const r = await imgbuild(['verify', img, '--json']);
  return {
    exitCode: r.exitCode,
    checks: (JSON.parse(String(r.stdout)).checks as Array<{ name: string; status: string; detail: string }>).filter((c) => /PCR 11/.test(c.name)),
  };
}

beforeAll(async () => {
  const kernel = join(dir, 'vmlinuz');
  const initrd = join(dir, 'initrd.img');
  writeFileSync(kernel, fakeBzImage());
  writeFileSync(initrd, randomBytes(40_000));
  const r = await imgbuild(['build', '--from', await makeUsr(dir, '1'), '--kernel', kernel, '--initrd', initrd, '--seed', 'pcr', '-o', img], { env });
  expect(r.exitCode, String(r.stderr)).toBe(0);
});

describe('PCR 11 predictions in the manifest', () => {
  it("build: slot A's equal systemd-measure calculate on the UKI's sections; verify checks them", async () => {
    const rec = manifest().boot.slots.A.pcr11;
    expect(rec.stub).toMatch(/^systemd-stub 252\./); // Debian 12's systemd-boot-efi, the stub the UKI carries
    expect(rec).toMatchObject(await measure('A'));
    const v = await verify();
    expect(v.exitCode).toBe(0);
    expect(v.checks.map((c) => c.status)).toEqual(['ok']);
  });

  it("update: slot B gets its own, again equal to systemd-measure's, A's stay", async () => {
    const a = manifest().boot.slots.A.pcr11;
    const u = await imgbuild(['update', img, '--from', await makeUsr(dir, '2')], { env });
    expect(u.exitCode, String(u.stderr)).toBe(0);
    const m = manifest();
    expect(m.boot.slots.A.pcr11).toEqual(a);
    expect(m.boot.slots.B.pcr11).toMatchObject(await measure('B'));
    expect(m.boot.slots.B.pcr11.ready).not.toBe(a.ready); // another root hash on the command line
    const v = await verify();
    expect(v.exitCode).toBe(0);
    expect(v.checks.map((c) => c.status)).toEqual(['ok', 'ok']);
  });

  it('verify fails, naming PCR 11, when a recorded prediction is edited', async () => {
    const path = `${img}.manifest.json`;
    const good = readFileSync(path, 'utf8');
    const m = JSON.parse(good);
    m.boot.slots.B.pcr11.sysinit = '0'.repeat(64);
    writeFileSync(path, JSON.stringify(m, null, 2));
    try {
      const v = await verify();
      expect(v.exitCode).toBe(1);
      const bad = v.checks.filter((c) => c.status === 'fail');
      expect(bad).toHaveLength(1);
      expect(bad[0].detail).toMatch(/^after sysinit: recorded 0{64}, the UKI gives [0-9a-f]{64}$/);
    } finally {
      writeFileSync(path, good);
    }
  });
});
