/**
 * The example OS (os/debian: Debian 12, systemd 254 from bookworm-backports, Debian's dracut initrd)
 * booted from an imgbuild image under qemu (TCG, 2 CPUs, 2 GiB): the selector, the slot's UKI,
 * systemd's own veritysetup of /usr from the slot, the writable ext4 ROOT from `build --root-tree`, the
 * OS's own blessing (os/files), and measured boot judged by `imgbuild attest`. One signed qemu_uefi
 * bundle with Secure Boot on (the test's own key enrolled), the TPM's state kept in its tpm/ folder;
 * two boots, because every OS boot costs a minute or more under TCG:
 *
 *   1. v1 on slot A to multi-user, through the bundle's launch script (`vm.sh --tpm`): marker =
 *      manifest (slot, root hash, version), PID 1 systemd, /usr the dm-verity device read-only, / the
 *      writable ROOT, A already good. The nonce reaches the node through qemu's fw_cfg, the node's
 *      attest command prints its report on the console. PCR 11 is the manifest's prediction for A
 *      after the last boot phase (ready); `imgbuild attest` accepts the fresh report (pinning the
 *      node's key on first use) and refuses the same report for a newer nonce (a replay), with its
 *      version edited, and the same measurements replayed into another TPM (a swtpm on the host, every
 *      PCR 7 and 11 event of the node's own logs extended into it). PCR 7's log shows the firmware
 *      allowed the boot files by the image's signing certificate;
 *   2. update v2 → slot B, through `runQemu({ tpm: true })` (what `imgbuild qemu --tpm` runs): B
 *      boots with its one try and blesses itself, the boot count boot 1 wrote to /var is still there
 *      (ROOT persists), `slot status` on the host shows B good; PCR 11 is B's prediction, and
 *      attest accepts it under the key pinned in boot 1 (the same TPM state).
 *
 * Elsewhere on the same OS: a failing health check and the fallback (sysupdate.test.ts, boots 4-5),
 * one byte of /usr changed (heal-os.test.ts: dm-verity restarts the machine, the selector falls back).
 *
 * A boot takes 40-110 s here on a quiet machine, up to 5 minutes on a loaded one.
 */
import { execa } from 'execa';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseBootMarker } from '../../packages/core/src/qemu/marker.js';
import { claimsDigest, EV_NO_ACTION, parseTcgEventLog, type AttestReport } from '../../packages/core/src/attest/index.js';
import { runQemu } from '../../packages/core/src/qemu/run.js';
import { imgbuild, tempDir, tool } from '../helpers.js';
import { startHostTpm } from '../tpm-host.js';
import { durations, env, slotStatus } from './boot.js';
import { exampleOs, OS_MEMORY_MIB, OS_SMP } from './os.js';

const dir = tempDir('imgbuild-os-');
const vm = join(dir, 'vm');
const BOOT_S = 480; // a first boot of the updated slot with swtpm passed 300 s beside another OS boot on a 2-core machine
const NONCE_SLOT = 'opt/io.imgbuild.attest-nonce';
const akFile = join(dir, 'node.ak.pem');
const key = join(dir, 'db.key');
const cert = join(dir, 'db.crt');
const pass = join(dir, 'pass');
const sign = ['--sign-key', key, '--sign-cert', cert, '--sign-pass-file', pass];
let report1: AttestReport;
let nonce1: string;

const manifest = () => JSON.parse(readFileSync(join(vm, 'vm.manifest.json'), 'utf8'));
const nonce = () => randomBytes(16).toString('hex');

/** The report the node printed (IMGBUILD-ATTEST lines), checked against its END line's sha256. */
function reportFrom(log: string): AttestReport {
  const b64 = [...log.matchAll(/IMGBUILD-ATTEST ([A-Za-z0-9+/=]+)\r?$/gm)].map((x) => x[1]).join('');
  const end = /IMGBUILD-ATTEST-END ([0-9a-f]{64})/.exec(log);
  expect(end, `no attestation report on the console${/IMGBUILD-ATTEST-FAILED.*/.exec(log)?.[0] ?? ''}`).not.toBeNull();
  const text = Buffer.from(b64, 'base64');
  expect(sha256hex(text)).toBe(end![1]);
  return JSON.parse(text.toString('utf8')) as AttestReport;
}
function sha256hex(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

async function attest(report: AttestReport, n: string, ak = akFile, manifestPath = join(vm, 'vm.manifest.json')) {
  const f = join(dir, `report-${randomBytes(4).toString('hex')}.json`);
  writeFileSync(f, JSON.stringify(report));
  const r = await imgbuild(['attest', f, '--manifest', manifestPath, '--nonce', n, '--ak', ak, '--json']);
  expect(String(r.stdout), String(r.stderr)).toMatch(/^\{/);
  const j = JSON.parse(String(r.stdout));
  return { exitCode: r.exitCode, ...j, failed: j.checks.filter((c: any) => !c.ok) };
}

beforeAll(async () => {
  const v1 = await exampleOs('1');
  writeFileSync(pass, 'test pass\n');
  const subj = ['-subj', '/CN=imgbuild attest test', '-passout', 'pass:test pass'];
  await tool('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-keyout', key, '-out', cert, '-days', '3650', ...subj]);
  const os = ['--from', v1.usr, '--root-tree', v1.root, '--kernel', v1.kernel, '--initrd', v1.initrd];
  const image = ['--layout', 'flatcar', '--seed', 'os-test', '--cmdline', 'imgbuild.test=poweroff', '--format', 'qemu_uefi', '--secure-boot'];
  const r = await imgbuild(['build', ...os, ...image, ...sign, '-o', vm], { env });
  expect(r.exitCode, String(r.stderr)).toBe(0);
}, 2_400_000);

afterAll(() => {
  if (durations.length) console.log(`example OS boot durations (s): ${durations.map((d) => (d / 1000).toFixed(1)).join(' ')}`);
});

describe('the example OS: boots, updates, measured boot, attestation', { timeout: (BOOT_S + 180) * 1000 }, () => {
  it('1. v1 on slot A to multi-user via vm.sh --tpm: PCR 11 as predicted; attest accepts the fresh report, refuses replay, edits and another TPM', async () => {
    nonce1 = nonce();
    const t0 = Date.now();
    const run = await execa(
      join(vm, 'vm.sh'),
      ['--tcg', '--no-net', '--tpm', '-m', String(OS_MEMORY_MIB), '--', '-smp', String(OS_SMP), '-fw_cfg', `name=${NONCE_SLOT},string=${nonce1}`],
      {
        reject: false,
        timeout: BOOT_S * 1000,
        stdin: 'ignore',
        all: true,
      },
    );
    durations.push(Date.now() - t0);
    const log = String(run.all);
    writeFileSync(join(dir, 'boot1.log'), log);
    const m = manifest();
    const { marker } = parseBootMarker(log);
    expect(marker, log.slice(-3000)).toMatchObject({ slot: 'A', usrhash: m.slots.A.rootHash, version: '1', health: 'ok' });
    expect(marker!.details).toEqual({
      pid1: 'systemd',
      usr: 'verity-ro',
      root: `rw,PARTUUID=${m.rootFs.partuuid}`,
      bless: 'already-good',
      target: 'multi-user',
      boots: '1',
      sysext: 'none', // no system extension merged (sysext.test.ts merges some)
      watchdog: 'active,60s', // systemd feeds the launch script's i6300esb (heal-os.test.ts)
      refused: 'none', // no system extension refused (sysext.test.ts refuses a corrupted one)
    });
    expect(log).toMatch(/systemd 254\.\d+/); // the backports systemd, in the initrd and as PID 1
    expect(log).toMatch(/Finished .*systemd-veritysetup@usr/);
    expect(log).toMatch(/Secure boot enabled/);
    expect(existsSync(join(vm, 'tpm/tpm2-00.permall')), "the TPM's state in the bundle's tpm/").toBe(true);
    report1 = reportFrom(log);
    expect(report1.pcrs['11']).toBe(m.boot.slots.A.pcr11.ready);
    expect(report1.usrhash).toBe(m.slots.A.rootHash);

    const fresh = await attest(report1, nonce1);
    expect(fresh.exitCode, JSON.stringify(fresh.failed)).toBe(0);
    expect(fresh.firstUse).toBe(true);
    expect(fresh.identity).toMatchObject({ slot: 'A', version: '1', phase: 'ready', usrhash: m.slots.A.rootHash });
    // the logs explain both PCRs: the firmware's events and the stub's, then the boot phases; PCR 7's
    // names the image's signing certificate as the db entry that allowed the boot files
    const logChecks = fresh.checks.filter((c: any) => /^event log|^pcr7 signer/.test(c.name)).map((c: any) => [c.name, c.ok]);
    expect(logChecks).toEqual([['event log PCR 7', true], ['event log PCR 11', true], ['pcr7 signer', true]]);

    // a node whose UKI is not the manifest's (here: the manifest's record of A's command line and
    // predictions changed by a byte): PCR 11 is no prediction, and the stub's log names the section
    const other = manifest();
    other.boot.slots.A.cmdline += ' x';
    other.boot.slots.A.pcr11.ready = '00'.repeat(32);
    writeFileSync(join(dir, 'other.manifest.json'), JSON.stringify(other));
    const foreign = await attest(report1, nonce1, akFile, join(dir, 'other.manifest.json'));
    expect(foreign.exitCode).toBe(1);
    expect(foreign.failed).toEqual([expect.objectContaining({ name: 'pcr11' })]);
    expect(foreign.failed[0].detail).toMatch(/\.linux as slot A's, \.cmdline matches no slot's, \.initrd as slot A's/);

    const replay = await attest(report1, nonce());
    expect(replay.exitCode).toBe(1);
    expect(replay.failed).toEqual([expect.objectContaining({ name: 'nonce', detail: expect.stringMatching(/replayed/) })]);

    const edited = await attest({ ...report1, version: '2' }, nonce1);
    expect(edited.exitCode).toBe(1);
    expect(edited.failed).toEqual([expect.objectContaining({ name: 'nonce', detail: expect.stringMatching(/edited after the quote/) })]);

    // another TPM, fed every event the node's logs hold for PCR 7 and 11 (and the boot phases)
    const otherTpm = await startHostTpm(join(dir, 'other-tpm'));
    try {
      for (const e of parseTcgEventLog(Buffer.from(report1.eventLog, 'base64'))) {
        if ((e.pcr === 7 || e.pcr === 11) && e.type !== EV_NO_ACTION) await otherTpm.tpm2('pcrextend', [`${e.pcr}:sha256=${e.sha256}`]);
      }
      for (const phase of ['enter-initrd', 'leave-initrd', 'sysinit', 'ready'])
        await otherTpm.tpm2('pcrextend', [`11:sha256=${sha256hex(Buffer.from(phase))}`]);
      const q = claimsDigest(nonce1, report1).toString('hex');
      await otherTpm.tpm2('quote', ['-c', '0x81010002', '-l', 'sha256:7,11', '-q', q, '-g', 'sha256', '-m', 'q.msg', '-s', 'q.sig']);
      const forged: AttestReport = {
        ...report1,
        ak: Buffer.from(await otherTpm.akPem()).toString('base64'),
        quote: {
          message: readFileSync(join(otherTpm.dir, 'q.msg')).toString('base64'),
          signature: readFileSync(join(otherTpm.dir, 'q.sig')).toString('base64'),
        },
      };
      const r = await attest(forged, nonce1);
      expect(r.exitCode).toBe(1);
      expect(r.failed).toEqual([expect.objectContaining({ name: 'ak', detail: expect.stringMatching(/another TPM/) })]);
      // …and only the key tells it apart: under a key pinned for it, its identity is the node's
      const own = await attest(forged, nonce1, join(dir, 'other.ak.pem'));
      expect(own.exitCode, JSON.stringify(own.failed)).toBe(0);
      expect({ ...own.identity, ak: null }).toEqual({ ...fresh.identity, ak: null });
    } finally {
      await otherTpm.stop();
    }
  });

  it("2. update v2 → slot B via runQemu({ tpm }): B blesses itself, /var kept; PCR 11 is B's prediction, attest accepts it under the key pinned in boot 1", async () => {
    expect(report1, 'boot 1 ran').toBeDefined();
    const v2 = await exampleOs('2');
    const u = await imgbuild(['update', vm, '--from', v2.usr, ...sign], { env });
    expect(u.exitCode, String(u.stderr)).toBe(0);
    const n = nonce();
    const r = await runQemu({
      image: vm,
      tpm: true,
      memoryMiB: OS_MEMORY_MIB,
      smp: OS_SMP,
      timeoutMs: BOOT_S * 1000,
      logPath: join(dir, 'boot2.log'),
      extraArgs: ['-fw_cfg', `name=${NONCE_SLOT},string=${n}`],
    });
    durations.push(r.durationMs);
    const m = manifest();
    expect(r.marker, r.failure?.detail).toMatchObject({ slot: 'B', usrhash: m.slots.B.rootHash, version: '2', health: 'ok' });
    expect(r.selector.choices).toEqual([expect.objectContaining({ slot: 'B', triesBefore: 1, triesAfter: 0, successful: false })]);
    // blessed by the OS; boots=2: the count boot 1 wrote to /var survived (ROOT persists)
    expect(r.marker!.details).toMatchObject({ bless: 'blessed', boots: '2', pid1: 'systemd', usr: 'verity-ro', watchdog: 'active,60s' });
    const s = await slotStatus(vm);
    expect(s.B).toMatchObject({ priority: 2, tries: 0, successful: true });
    expect(s.A).toMatchObject({ priority: 1, successful: true });
    expect(s.next).toBe('B');
    expect(r.tpmStateDir).toBe(join(vm, 'tpm'));
    const report = reportFrom(r.log);
    expect(report.pcrs['11']).toBe(m.boot.slots.B.pcr11.ready);
    expect(report.pcrs['11']).not.toBe(report1.pcrs['11']);
    expect(report.pcrs['7']).toBe(report1.pcrs['7']); // same firmware, same Secure Boot state
    const a = await attest(report, n);
    expect(a.exitCode, JSON.stringify(a.failed)).toBe(0);
    expect(a.firstUse).toBe(false);
    expect(a.identity).toMatchObject({ slot: 'B', version: '2', usrhash: m.slots.B.rootHash, phase: 'ready' });
    expect(a.checks.find((c: any) => c.name === 'pcr7 signer')).toMatchObject({ ok: true });
  });
});
