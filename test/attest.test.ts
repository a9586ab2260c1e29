/**
 * `imgbuild attest` without a boot: a TPM on the host (swtpm + tpm2-tools, test/tpm-host.ts) plays the
 * node. Its PCR 11 is extended with the events the stub and systemd-pcrphase would measure for slot
 * A's UKI of a built image; tpm2_quote signs. The quote decoder is judged by tpm2_checkquote; the
 * verdict accepts the honest report and names what is wrong in each altered one. The real node (the
 * example OS under qemu with swtpm) is test/boot/os.test.ts.
 */
import { Ajv } from 'ajv';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  claimsDigest,
  decodeQuote,
  decodeSignature,
  pcrDigest,
  predictPcr11,
  quoteSignatureValid,
  type AttestReport,
} from '../packages/core/src/attest/index.js';
import { fakeBzImage, imgbuild, ROOT, tempDir, tool } from './helpers.js';
import { startHostTpm, type HostTpm } from './tpm-host.js';

const dir = tempDir('imgbuild-attest-');
const img = join(dir, 'disk.raw');
const env = { SOURCE_DATE_EPOCH: '1700000000' };
const NONCE = '0123456789abcdef0123456789abcdef';
const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(JSON.parse(readFileSync(join(ROOT, 'packages/core/schemas/attest.schema.json'), 'utf8')));
let node: HostTpm;
let other: HostTpm;
let m: any;

/** Slot A's UKI, as the firmware would load it from the ESP. */
async function ukiOf(slot: 'A' | 'B'): Promise<Buffer> {
  const esp = m.partitions.find((p: any) => p.role === 'esp');
  const out = join(dir, `uki-${slot}.efi`);
  await tool('mcopy', ['-n', '-i', `${img}@@${esp.firstLba * 512}`, `::${m.boot.slots[slot].uki}`, out], { env: { MTOOLS_SKIP_CHECK: '1' } });
  return readFileSync(out);
}

/** What the node's attest script does: quote PCR 7 and 11 over sha256(nonce ‖ claims). */
async function quote(tpm: HostTpm, claims: { usrhash: string; version: string; extensions: string[] }, nonce = NONCE): Promise<AttestReport> {
  const q = claimsDigest(nonce, claims).toString('hex');
  await tpm.tpm2('quote', ['-c', '0x81010002', '-l', 'sha256:7,11', '-q', q, '-g', 'sha256', '-m', 'q.msg', '-s', 'q.sig', '-o', 'q.pcrs']);
  const read = (f: string) => readFileSync(join(tpm.dir, f));
  const pcr = async (n: number) => /0x([0-9A-F]{64})/.exec(await tpm.tpm2('pcrread', [`sha256:${n}`]))![1].toLowerCase();
  return {
    format: 'imgbuild-attest-1',
    nonce,
    ...claims,
    pcrs: { '7': await pcr(7), '11': await pcr(11) },
    ak: Buffer.from(await tpm.akPem()).toString('base64'),
    quote: { message: read('q.msg').toString('base64'), signature: read('q.sig').toString('base64') },
    eventLog: '',
    systemdLog: '',
  };
}

async function extend11(tpm: HostTpm, digests: string[]) {
  for (const d of digests) await tpm.tpm2('pcrextend', [`11:sha256=${d}`]);
}

async function attest(report: AttestReport, nonce = NONCE, ak = join(dir, 'node.ak.pem'), extra: string[] = [], manifestPath = `${img}.manifest.json`) {
  const f = join(dir, `report-${randomBytes(4).toString('hex')}.json`);
  writeFileSync(f, JSON.stringify(report));
  const r = await imgbuild(['attest', f, '--manifest', manifestPath, '--nonce', nonce, '--ak', ak, '--json', ...extra]);
  expect(String(r.stdout), String(r.stderr)).toMatch(/^\{/);
  const j = JSON.parse(String(r.stdout));
  expect(validate(j), `attest --json: ${ajv.errorsText(validate.errors)}`).toBe(true); // the committed schema
  return { exitCode: r.exitCode, ...j, failed: j.checks.filter((c: any) => !c.ok) };
}

let honest: AttestReport;

beforeAll(async () => {
  const tree = join(dir, 'tree');
  cpSync(join(ROOT, 'examples/usr'), tree, { recursive: true });
  writeFileSync(join(tree, 'lib/os-release'), 'ID=imgbuild-example\nVERSION_ID=7\n');
  await tool('mksquashfs', [tree, join(dir, 'usr.squashfs'), '-noappend', '-all-root', '-quiet', '-mkfs-time', '1700000000', '-all-time', '1700000000']);
  writeFileSync(join(dir, 'vmlinuz'), fakeBzImage());
  writeFileSync(join(dir, 'initrd'), randomBytes(30_000));
  const r = await imgbuild(
    ['build', '--from', join(dir, 'usr.squashfs'), '--kernel', join(dir, 'vmlinuz'), '--initrd', join(dir, 'initrd'), '--seed', 'attest', '-o', img],
    { env },
  );
  expect(r.exitCode, String(r.stderr)).toBe(0);
  m = JSON.parse(readFileSync(`${img}.manifest.json`, 'utf8'));
  node = await startHostTpm(join(dir, 'node'));
  other = await startHostTpm(join(dir, 'other'));
  // the node booted slot A's UKI to "ready"
  await extend11(
    node,
    predictPcr11(await ukiOf('A')).events.map((e) => e.digest),
  );
  honest = await quote(node, { usrhash: m.slots.A.rootHash, version: '7', extensions: [] });
}, 120_000);

afterAll(async () => {
  await node?.stop();
  await other?.stop();
});

describe('imgbuild attest against a host TPM', () => {
  it('the quote decoder and signature check agree with tpm2_checkquote', async () => {
    const d = node.dir;
    const q = claimsDigest(NONCE, honest).toString('hex');
    const check = (sig: string) =>
      tool('tpm2_checkquote', ['-u', join(d, 'ak.pem'), '-m', join(d, 'q.msg'), '-s', sig, '-f', join(d, 'q.pcrs'), '-g', 'sha256', '-q', q], {
        cwd: d,
        reject: false,
      });
    const r = await check(join(d, 'q.sig'));
    expect(r.exitCode, String(r.stderr)).toBe(0); // signature, qualifying data and PCR digest hold
    const pcrs = [...String(r.stdout).matchAll(/(\d+)\s*: 0x([0-9A-F]{64})/g)].map((x) => Buffer.from(x[2], 'hex'));
    expect(pcrs.map((b) => b.toString('hex'))).toEqual([honest.pcrs['7'], honest.pcrs['11']]);
    const info = decodeQuote(Buffer.from(honest.quote.message, 'base64'));
    expect(info.pcrDigest).toEqual(pcrDigest(pcrs));
    expect(info.extraData.toString('hex')).toBe(q);
    expect(info.pcrSelect).toEqual([{ hash: 0x000b, pcrs: [7, 11] }]);
    const sig = Buffer.from(honest.quote.signature, 'base64');
    expect(quoteSignatureValid(Buffer.from(honest.quote.message, 'base64'), decodeSignature(sig), readFileSync(join(d, 'ak.pem'), 'utf8'))).toBe(true);
    sig[sig.length - 1] ^= 1; // a damaged signature: both judges refuse it
    writeFileSync(join(d, 'bad.sig'), sig);
    expect((await check(join(d, 'bad.sig'))).exitCode).not.toBe(0);
    expect(quoteSignatureValid(Buffer.from(honest.quote.message, 'base64'), decodeSignature(sig), readFileSync(join(d, 'ak.pem'), 'utf8'))).toBe(false);
  });

  it('accepts the honest report: slot A, version 7, the key pinned on first use and then required', async () => {
    const first = await attest(honest);
    expect(first.exitCode, JSON.stringify(first.failed)).toBe(0);
    expect(first.firstUse).toBe(true);
    expect(first.identity).toMatchObject({ slot: 'A', version: '7', usrhash: m.slots.A.rootHash, phase: 'ready', pcr11: m.boot.slots.A.pcr11.ready });
    expect(existsSync(join(dir, 'node.ak.pem'))).toBe(true);
    const again = await attest(honest);
    expect(again.exitCode).toBe(0);
    expect(again.firstUse).toBe(false);
  });

  it('refuses a replayed quote (old nonce), naming it', async () => {
    const r = await attest(honest, 'ffeeddccbbaa99887766554433221100');
    expect(r.exitCode).toBe(1);
    expect(r.failed).toEqual([expect.objectContaining({ name: 'nonce', detail: expect.stringMatching(/replayed \(old\) quote/) })]);
  });

  it('refuses a report whose version (or usrhash) was edited after the quote', async () => {
    for (const edit of [{ version: '8' }, { usrhash: 'ab'.repeat(32) }, { extensions: ['debug'] }]) {
      const r = await attest({ ...honest, ...edit });
      expect(r.exitCode).toBe(1);
      expect(r.failed).toEqual([expect.objectContaining({ name: 'nonce', detail: expect.stringMatching(/edited after the quote/) })]);
    }
  });

  it('another set of extensions is another identity; --extensions names the difference', async () => {
    const withDebug = await quote(node, { usrhash: m.slots.A.rootHash, version: '7', extensions: ['debug', 'bpftrace'] });
    const r = await attest(withDebug);
    expect(r.exitCode, JSON.stringify(r.failed)).toBe(0);
    expect(r.identity.extensions).toEqual(['bpftrace', 'debug']);
    const strict = await attest(withDebug, NONCE, join(dir, 'node.ak.pem'), ['--extensions', 'none']);
    expect(strict.exitCode).toBe(1);
    expect(strict.failed).toEqual([expect.objectContaining({ name: 'extensions', detail: 'merged bpftrace,debug, expected none' })]);
    expect((await attest(honest, NONCE, join(dir, 'node.ak.pem'), ['--extensions', 'none'])).exitCode).toBe(0);
  });

  it('a signed image wants its signer in PCR 7\'s log: a report without a firmware log cannot show it', async () => {
    const signed = { ...m, boot: { ...m.boot, signing: { certSha256: 'cd'.repeat(32), files: [] } } };
    writeFileSync(join(dir, 'signed.manifest.json'), JSON.stringify(signed));
    const r = await attest(honest, NONCE, join(dir, 'node.ak.pem'), [], join(dir, 'signed.manifest.json'));
    expect(r.exitCode).toBe(1);
    expect(r.failed).toEqual([expect.objectContaining({ name: 'pcr7 signer', detail: 'no firmware event log in the report' })]);
  });

  it('refuses a perfect replay of the same measurements in another TPM', async () => {
    await extend11(
      other,
      predictPcr11(await ukiOf('A')).events.map((e) => e.digest),
    );
    const forged = await quote(other, { usrhash: m.slots.A.rootHash, version: '7', extensions: [] });
    expect(forged.pcrs).toEqual(honest.pcrs); // the same PCRs: only the key tells the TPMs apart
    const r = await attest(forged);
    expect(r.exitCode).toBe(1);
    expect(r.failed).toEqual([expect.objectContaining({ name: 'ak', detail: expect.stringMatching(/another TPM/) })]);
  });

  it('refuses PCR values that are not the quoted ones, and a PCR 11 of no slot', async () => {
    const r = await attest({ ...honest, pcrs: { ...honest.pcrs, '11': m.boot.slots.A.pcr11.sysinit } });
    expect(r.failed).toEqual([expect.objectContaining({ name: 'pcrs' })]);
    // the node now measures something else into PCR 11: no UKI of this image explains it
    await extend11(node, ['00'.repeat(32)]);
    const moved = await quote(node, { usrhash: m.slots.A.rootHash, version: '7', extensions: [] });
    const s = await attest(moved);
    expect(s.exitCode).toBe(1);
    expect(s.failed).toEqual([expect.objectContaining({ name: 'pcr11', detail: expect.stringMatching(/none of this image's predictions/) })]);
  });
});
