/**
 * A running node updates itself (issue 20): the example OS built with `--layout sysupdate-mini` (slots
 * named by version, sized for this OS), a feed written by `imgbuild publish` and served by a static
 * HTTP server bound to 127.0.0.1, reached from the guest only through qemu's user-mode network
 * (10.0.2.2), and stock systemd-sysupdate 254 on the node with the OS's transfer files. The test's
 * overlay (fixtures/sysupdate-node) plays the operator: given "<feed> <channel>..." through fw_cfg it
 * writes /etc/imgbuild/update.conf and starts the product's systemd-sysupdate.service once per channel.
 * Five boots on one image:
 *
 *   1. v1 (slot A, imgbuild_1), offered first three bad channels, then v2: a payload whose sha256 is
 *      not SHA256SUMS's (one byte of its gzip header changed, so only the checksum can tell), a payload
 *      cut short, and a channel signed by another key are each refused with one line, nothing staged;
 *      then sysupdate writes v2 into the slot labelled _empty; update-staged says "staged",
 *      /run/reboot-required; on the host, B is imgbuild_2 with priority 3, one try, PARTUUID from the
 *      root hash, and holds the payload's bytes exactly;
 *   2. the selector starts B (v2), which blesses itself; v3 (a failing health check) is published; the
 *      power is cut while sysupdate writes v3's payload into A (v1's slot, vacuumed to _empty first);
 *   3. the next boot is B (v2) again, untouched; the retry stages v3 into A; `verify --feed-manifest`
 *      accepts the image updated on the node;
 *   4. A (v3) boots with its one try, is not blessed;
 *   5. the next boot falls back to B (v2) by itself.
 */
import { execa } from 'execa';
import { closeSync, cpSync, createReadStream, existsSync, mkdirSync, openSync, promises as fsp, readFileSync, readSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join, normalize } from 'node:path';
import { createGunzip } from 'node:zlib';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runQemu, type QemuRunResult } from '../../packages/core/src/qemu/run.js';
import { imgbuild, ROOT, tempDir } from '../helpers.js';
import { durations, env } from './boot.js';
import { exampleOs, OS_MEMORY_MIB, OS_SMP, type OsBuild } from './os.js';

const dir = tempDir('imgbuild-sysupdate-');
const img = join(dir, 'os.raw');
const feed = join(dir, 'feed');
// The feed's keys, kept across runs: the OS carries the public one, so a new key would rebuild every version.
const gnupg = join(ROOT, '.cache/sysupdate-test-gnupg');
// Under TCG qemu's user network moves a few MB/s: the 150 MB payload and the 48 MB UKI take minutes.
const BOOT_S = 900;
const KEY = 'feed@imgbuild.invalid';
const OTHER_KEY = 'other@imgbuild.invalid';
let v1: OsBuild, v2: OsBuild, v3: OsBuild, v4: OsBuild;
let server: Server;
let port = 0;

async function gpg(args: string[]) {
  return execa('gpg', ['--batch', '--homedir', gnupg, ...args]);
}

/**
 * A static file server for the feed folder (symlinks followed), on 127.0.0.1 only. With Content-Length,
 * as a real one sends: systemd-pull logs its progress ("Got N% of URL") only when it knows the size.
 */
function serve(root: string): Promise<number> {
  server = createServer((req, res) => {
    const path = normalize(join(root, decodeURIComponent((req.url ?? '/').split('?')[0])));
    if (!path.startsWith(root)) return void res.writeHead(403).end();
    fsp.stat(path).then(
      (st) => {
        if (!st.isFile()) return void res.writeHead(404).end();
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': st.size });
        createReadStream(path).on('error', () => res.destroy()).pipe(res);
      },
      () => void res.writeHead(404).end(),
    );
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

beforeAll(async () => {
  if (!existsSync(join(gnupg, 'ready'))) {
    rmSync(gnupg, { recursive: true, force: true });
    mkdirSync(gnupg, { recursive: true, mode: 0o700 });
    await gpg(['--passphrase', '', '--quick-gen-key', `imgbuild test feed <${KEY}>`, 'ed25519', 'sign', 'never']);
    await gpg(['--passphrase', '', '--quick-gen-key', `somebody else <${OTHER_KEY}>`, 'ed25519', 'sign', 'never']);
    writeFileSync(join(gnupg, 'ready'), '');
  }
  // the node trusts the feed's key only
  const pub = join(dir, 'import-pubring.gpg');
  await gpg(['--output', pub, '--export', KEY]);
  const node = join(ROOT, 'test/boot/fixtures/sysupdate-node');
  const unhealthy = join(dir, 'overlay-unhealthy');
  cpSync(node, unhealthy, { recursive: true, verbatimSymlinks: true });
  cpSync(join(ROOT, 'test/boot/fixtures/os-unhealthy'), unhealthy, { recursive: true, verbatimSymlinks: true });
  v1 = await exampleOs('1', node, pub);
  v2 = await exampleOs('2', node, pub);
  v3 = await exampleOs('3', unhealthy, pub);
  v4 = await exampleOs('4', node, pub);
  // A node provisioned already: without Ignition's first-boot signal on ROOT (provision.test.ts boots
  // Ignition), so that no first boot stands between this test and its updates.
  const root = join(dir, 'root-v1');
  await execa('cp', ['-a', v1.root, root]);
  rmSync(join(root, 'var/lib/imgbuild/ignition-firstboot'));
  const r = await imgbuild(['build', '--from', v1.usr, '--root-tree', root, '--kernel', v1.kernel, '--initrd', v1.initrd, '--layout', 'sysupdate-mini', '--seed', 'sysupdate-test', '--cmdline', 'imgbuild.test=poweroff', '-o', img], { env });
  expect(r.exitCode, String(r.stderr)).toBe(0);
  port = await serve(feed);
}, 2_400_000);

afterAll(() => {
  server?.close();
  if (durations.length) console.log(`sysupdate boot durations (s): ${durations.map((d) => (d / 1000).toFixed(1)).join(' ')}`);
});

async function publish(channel: string, os: OsBuild, key = KEY) {
  const r = await imgbuild(['publish', feed, '--channel', channel, '--base', img, '--from', os.usr, '--kernel', os.kernel, '--initrd', os.initrd, '--gpg-key', key, '--gpg-homedir', gnupg, '--json'], { env });
  expect(r.exitCode, String(r.stderr)).toBe(0);
  return JSON.parse(String(r.stdout)) as { version: string; label: string; rootHash: string; partuuid: string; files: { payload: string; uki: string; manifest: string }; payloadUncompressedBytes: number; durationMs: number };
}

async function nodeBoot(name: string, channels: string[], powerCutWhen?: (console: string) => boolean): Promise<QemuRunResult> {
  const logPath = join(dir, `${name}.log`);
  const r = await runQemu({
    image: img,
    memoryMiB: OS_MEMORY_MIB,
    smp: OS_SMP,
    timeoutMs: BOOT_S * 1000,
    logPath,
    nic: 'user',
    ...(powerCutWhen ? { powerCutWhen: async () => powerCutWhen(await fsp.readFile(logPath, 'latin1')) } : {}),
    // No hardware watchdog here: on a loaded 2-core CI machine, TCG with sysupdate writing half a GiB
    // starved PID 1's 30 s feeding and reset the guest mid-write (heal-os.test.ts covers the watchdog).
    watchdog: false,
    extraArgs: channels.length ? ['-fw_cfg', `name=opt/io.imgbuild.test-update,string=http://10.0.2.2:${port} ${channels.join(' ')}`] : [],
  });
  durations.push(r.durationMs);
  console.log(`${name}: ${(r.durationMs / 1000).toFixed(0)} s${downloadToStaged(r.log)}`);
  if (!r.marker) console.log(`${name}: no marker: ${JSON.stringify({ failure: r.failure, resets: (r as { resets?: unknown }).resets, exitCode: r.exitCode })}`);
  return r;
}

/** The node's time from fetching a channel's SHA256SUMS to its "staged" line, from the console's kernel timestamps. */
function downloadToStaged(log: string): string {
  const t = (re: RegExp) => [...log.matchAll(re)].map((m) => Number(m[1]));
  const fetched = t(/\[\s*(\d+\.\d+)\][^\n]*SHA256SUMS(?!\.gpg)/g);
  const staged = t(/\[\s*(\d+\.\d+)\][^\n]*imgbuild-update: staged/g);
  return fetched.length && staged.length ? `; SHA256SUMS fetched → staged: ${(staged.at(-1)! - fetched.at(-1)!).toFixed(0)} s` : '';
}

const updateLines = (log: string) => [...log.matchAll(/IMGBUILD-TEST-UPDATE channel=(\S+) rc=(\d+) result=(\S+) reboot-required=(\S+) line=(.*)/g)].map((m) => ({ channel: m[1], rc: m[2], result: m[3], rebootRequired: m[4], line: m[5].trim() }));

interface SlotJson {
  slot: string;
  label: string;
  uuid: string;
  priority: number;
  tries: number;
  successful: boolean;
  canBoot: boolean;
  number: number;
  firstLba: number;
}
async function slots() {
  const r = await imgbuild(['slot', 'status', img, '--json']);
  expect(r.exitCode, String(r.stderr)).toBe(0);
  const j = JSON.parse(String(r.stdout)) as { slots: SlotJson[]; next: string | null };
  return { next: j.next, A: j.slots.find((s) => s.slot === 'A')!, B: j.slots.find((s) => s.slot === 'B')! };
}

/** sha256 of the partition's first `bytes` bytes and of the decompressed payload. */
async function partitionMatchesPayload(startByte: number, payload: string, bytes: number): Promise<void> {
  const h = createHash('sha256');
  const fd = openSync(img, 'r');
  const buf = Buffer.alloc(1 << 20);
  for (let done = 0; done < bytes; ) {
    const n = readSync(fd, buf, 0, Math.min(buf.length, bytes - done), startByte + done);
    h.update(buf.subarray(0, n));
    done += n;
  }
  closeSync(fd);
  const p = createHash('sha256');
  await new Promise<void>((resolve, reject) => createReadStream(payload).pipe(createGunzip()).on('data', (c: Buffer) => p.update(c)).on('end', resolve).on('error', reject));
  expect(h.digest('hex')).toBe(p.digest('hex'));
}

/**
 * Three channels a node must refuse, each with v4: `tampered`, one byte of its payload's gzip header
 * changed (MTIME: gunzip still gives the same bytes, so only the sha256 against SHA256SUMS can tell);
 * `short`, its payload cut to 1 MiB after signing; `badsig`, signed by a key the node does not trust.
 */
async function publishBadChannels() {
  const payloadOf = (channel: string) => {
    const t = JSON.parse(readFileSync(join(feed, channel, 'index.json'), 'utf8')) as { versions: Array<{ payload: string }> };
    return join(feed, channel, t.versions[0].payload);
  };
  await publish('tampered', v4);
  const fd = openSync(payloadOf('tampered'), 'r+');
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, 4);
  b[0] ^= 0x01;
  writeSync(fd, b, 0, 1, 4);
  closeSync(fd);
  await publish('short', v4);
  truncateSync(payloadOf('short'), 1 << 20);
  await publish('badsig', v4, OTHER_KEY);
}

describe('a node updates itself from a published feed (systemd-sysupdate 254)', () => {
  let pub2: Awaited<ReturnType<typeof publish>>;
  let pub3: Awaited<ReturnType<typeof publish>>;

  it('boot 1: v1 refuses a tampered, a short and a foreign-signed channel, then stages v2 into the _empty slot', async () => {
    await publishBadChannels();
    pub2 = await publish('stable', v2);
    console.log(`publish of the example OS v2: ${(pub2.durationMs / 1000).toFixed(1)} s`);
    expect((await slots()).B.label).toBe('_empty');
    const r = await nodeBoot('boot1', ['tampered', 'short', 'badsig', 'stable']);
    expect(r.marker, r.failure?.detail).toMatchObject({ slot: 'A', version: '1', health: 'ok' });
    const u = updateLines(r.log);
    expect(u.map((x) => [x.channel, x.result, x.rebootRequired]), r.log.slice(-3000)).toEqual([
      ['tampered', 'failed', 'no'],
      ['short', 'failed', 'no'],
      ['badsig', 'failed', 'no'],
      ['stable', 'staged', 'yes'],
    ]);
    console.log(`refusals: ${u.slice(0, 3).map((x) => x.line).join(' | ')}`);
    // each says why: systemd-pull's verdict, with gpg's reason for the signature
    // (systemd-pull 254's own words: "did not check out, file has been tampered with", for the short one too)
    expect(u[0].line).toMatch(/^imgbuild-update: nothing installed: DOWNLOAD INVALID: Checksum of \S+\/tampered\/imgbuild_4_\S+\.usr\.gz file did not check out/);
    expect(u[1].line).toMatch(/^imgbuild-update: nothing installed: DOWNLOAD INVALID: Checksum of \S+\/short\/imgbuild_4_\S+\.usr\.gz file did not check out/);
    expect(u[2].line).toMatch(/^imgbuild-update: nothing installed: DOWNLOAD INVALID: Signature verification failed\. \(gpg: (Can't check signature|BAD signature)/);
    expect(u[3]).toMatchObject({ rc: '0' });
    expect(u[3].line).toMatch(/^imgbuild-update: staged imgbuild_2 in partition 4 \(priority 3, tries 1\)/);
    const s = await slots();
    expect(s.B).toMatchObject({ label: 'imgbuild_2', uuid: pub2.partuuid, priority: 3, tries: 1, successful: false });
    expect(s.A).toMatchObject({ label: 'imgbuild_1', priority: 1, successful: true });
    expect(s.next).toBe('B');
    // sysupdate wrote exactly the published bytes (the filesystem, the zeros, the verity area)
    await partitionMatchesPayload(s.B.firstLba * 512, join(feed, 'stable', pub2.files.payload), pub2.payloadUncompressedBytes);
  }, BOOT_S * 1000 + 300_000);

  it('boot 2: the selector starts v2, which blesses itself; the power is cut while v3 is written into v1\'s slot', async () => {
    pub3 = await publish('stable', v3);
    // cut once sysupdate has streamed a quarter of v3's payload into the slot (systemd-pull's progress)
    const writing = new RegExp(`Got (\\d+)% of \\S*/stable/${pub3.files.payload.replace(/[.+]/g, '\\$&')}`, 'g');
    const r = await nodeBoot('boot2', ['stable'], (log) => [...log.matchAll(writing)].some((m) => Number(m[1]) >= 25));
    expect(r.failure?.reason, r.log.slice(-3000)).toBe('power-cut');
    const s = await slots();
    // B blessed itself before the update began (successful, no tries left); the vacuumed slot says it holds no version: the selector never starts it half written
    expect(s.A).toMatchObject({ label: '_empty', canBoot: false });
    expect(s.B).toMatchObject({ label: 'imgbuild_2', uuid: pub2.partuuid, priority: 2, tries: 0, successful: true });
    expect(s.next).toBe('B');
  }, BOOT_S * 1000 + 300_000);

  it('boot 3: the next boot is v2 again, and the retry stages v3 into v1\'s slot', async () => {
    const r = await nodeBoot('boot3', ['stable']);
    expect(r.marker, r.failure?.detail).toMatchObject({ slot: 'B', version: '2', health: 'ok' });
    expect(r.marker?.usrhash).toBe(pub2.rootHash);
    const u = updateLines(r.log);
    expect(u[0], r.log.slice(-3000)).toMatchObject({ channel: 'stable', rc: '0', result: 'staged' });
    const s = await slots();
    expect(s.B).toMatchObject({ label: 'imgbuild_2', priority: 2, tries: 0, successful: true });
    expect(s.A).toMatchObject({ label: 'imgbuild_3', uuid: pub3.partuuid, priority: 3, tries: 1, successful: false });
    expect(s.next).toBe('A');
    await partitionMatchesPayload(s.A.firstLba * 512, join(feed, 'stable', pub3.files.payload), pub3.payloadUncompressedBytes);
    // the image, updated on the node, against the feed's manifests of what it now holds
    const v = await imgbuild(['verify', img, '--feed-manifest', join(feed, 'stable', pub2.files.manifest), '--feed-manifest', join(feed, 'stable', pub3.files.manifest)]);
    expect(v.exitCode, String(v.stdout) + String(v.stderr)).toBe(0);
  }, BOOT_S * 1000 + 300_000);

  it('boot 4: v3 boots with its one try and fails its health check: not blessed', async () => {
    const r = await nodeBoot('boot4', []);
    expect(r.marker, r.failure?.detail).toMatchObject({ slot: 'A', version: '3', health: 'fail' });
    const s = await slots();
    expect(s.A).toMatchObject({ tries: 0, successful: false });
    expect(s.next).toBe('B');
  }, BOOT_S * 1000);

  it('boot 5: back on v2 by itself', async () => {
    const r = await nodeBoot('boot5', []);
    expect(r.marker, r.failure?.detail).toMatchObject({ slot: 'B', version: '2', health: 'ok' });
    expect(r.marker?.usrhash).toBe(pub2.rootHash);
    const s = await slots();
    expect(s.B).toMatchObject({ label: 'imgbuild_2', uuid: pub2.partuuid, priority: 2, tries: 0, successful: true });
    expect(s.A).toMatchObject({ label: 'imgbuild_3', tries: 0, successful: false });
    expect(s.next).toBe('B');
  }, BOOT_S * 1000);
});
