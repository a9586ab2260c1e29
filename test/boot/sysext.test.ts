/**
 * System extensions built by `imgbuild sysext build`, judged by systemd 254 itself on a booted example
 * OS (os/debian). The extensions sit in ROOT's /var/lib/extensions (the `--root-tree`), where
 * systemd-sysext.service merges them at boot; a test-only unit in ROOT's /etc
 * (fixtures/sysext-node: imgbuild-sysext-report.service) prints what it merged as IMGBUILD-SYSEXT lines
 * and systemd's own log lines as IMGBUILD-SYSEXT-LOG, before the OS's marker (which reports `sysext=`).
 * One boot, because every OS boot costs a minute or more under TCG. The node carries:
 *
 *   - hello v1 (ID=debian, installed as systemd-sysupdate would: /var/lib/extensions.d + symlinks,
 *     with its .roothash): merged through dm-verity and runs from /usr/bin; then systemd-sysupdate
 *     takes v2 from a folder on ROOT (the `--sysupdate` release) and the refreshed merge runs v2;
 *   - wrongos (ID=fedora): refused by systemd-sysext with its own reason;
 *   - other, with one byte changed in its data partition (a byte squashfs never reads, so only
 *     dm-verity can notice): the OS's imgbuild-sysext-check reads it through dm-verity before
 *     systemd-sysext runs, refuses it (moves it to /var/lib/extensions.refused/) and the node boots
 *     healthy without it, its marker saying refused=other. (systemd 254 itself would abort on it,
 *     "(sd-merge) terminated by signal ABRT", and merge nothing.)
 *
 * The boot takes 55-110 s here (TCG, 2 CPUs); the file about 2-3 minutes with the image built.
 */
import { closeSync, cpSync, mkdirSync, openSync, readSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imgbuild, ROOT, tempDir, tool } from '../helpers.js';
import { boot, durations, env } from './boot.js';
import { exampleOs, OS_QEMU, type OsBuild } from './os.js';

const dir = tempDir('imgbuild-sysext-boot-');
const BOOT_S = 240;
/** Where the report unit's sysupdate source lives on the node (hello.conf's Source Path=). */
const RELEASE_ON_NODE = '/var/lib/imgbuild-sysext/release';
let os: OsBuild;

interface Sysext {
  output: string;
  rootHash: string;
  roothashFile: string;
  partitions: Array<{ role: string; offset: number; bytes: number }>;
  sysupdate: { dir: string } | null;
}

async function sysext(tree: string, name: string, version: string, osId: string, out: string[]): Promise<Sysext> {
  // VERSION_ID=1: the example OS's os-release carries the image version there (build.sh --version)
  const r = await imgbuild(['sysext', 'build', '--from-dir', tree, '--name', name, '--version', version, '--os-id', osId, '--os-version-id', '1', ...out, '--json'], { env });
  expect(r.exitCode, String(r.stderr)).toBe(0);
  return JSON.parse(String(r.stdout)) as Sysext;
}

function tree(name: string, bin: string, says: string): string {
  const t = join(dir, `tree-${name}`);
  mkdirSync(join(t, 'usr/bin'), { recursive: true });
  writeFileSync(join(t, `usr/bin/${bin}`), `#!/bin/sh\necho "${bin} ${says}"\n`, { mode: 0o755 });
  return t;
}

/** The example OS's ROOT with the report unit, systemd-sysext.service enabled, and `extra` laid over. */
async function nodeRoot(name: string, extra: (root: string) => void): Promise<string> {
  const root = join(dir, `root-${name}`);
  await tool('cp', ['-a', os.root, root]); // cp -a: the tree has device nodes (dev/ptmx) and owners
  cpSync(join(ROOT, 'test/boot/fixtures/sysext-node'), root, { recursive: true, verbatimSymlinks: true });
  for (const d of ['var/lib/extensions', 'var/lib/extensions.d']) mkdirSync(join(root, d), { recursive: true });
  extra(root);
  return root;
}

/** hello as systemd-sysupdate leaves it: versioned files in extensions.d, the merged names linking to them. */
function installHello(root: string, x: Sysext) {
  for (const f of [x.output, x.roothashFile]) cpSync(f, join(root, 'var/lib/extensions.d', f.split('/').pop()!));
  symlinkSync(`../extensions.d/${x.output.split('/').pop()}`, join(root, 'var/lib/extensions/hello.raw'));
  symlinkSync(`../extensions.d/${x.roothashFile.split('/').pop()}`, join(root, 'var/lib/extensions/hello.roothash'));
}

async function image(name: string, root: string): Promise<string> {
  const img = join(dir, `${name}.raw`);
  const r = await imgbuild(
    ['build', '--from', os.usr, '--root-tree', root, '--kernel', os.kernel, '--initrd', os.initrd, '--layout', 'flatcar', '--seed', `sysext-${name}`, '--cmdline', 'imgbuild.test=poweroff', '-o', img],
    { env },
  );
  expect(r.exitCode, String(r.stderr)).toBe(0);
  return img;
}

/** The report unit's lines: phase → its key=value fields. */
function phases(log: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const m of log.matchAll(/IMGBUILD-SYSEXT phase=(\S+)([^\r\n]*)/g)) {
    out[m[1]] = Object.fromEntries(m[2].trim().split(/\s+/).map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]));
  }
  return out;
}

/** The report unit's lines, for a failed expectation's message. */
const said = (log: string) => (log.match(/IMGBUILD-SYSEXT[^\r\n]*/g) ?? []).join('\n');

/** Flips one byte in the data partition past the squashfs's end (bytes_used, superblock offset 40). */
function flipUnreadByte(file: string, x: Sysext): number {
  const data = x.partitions.find((p) => p.role === 'root')!;
  const fd = openSync(file, 'r+');
  try {
    const sb = Buffer.alloc(96);
    readSync(fd, sb, 0, 96, data.offset);
    expect(sb.subarray(0, 4).toString('latin1')).toBe('hsqs');
    const used = Number(sb.readBigUInt64LE(40));
    expect(used).toBeLessThan(data.bytes - 1); // room for a byte squashfs never reads
    const off = data.offset + data.bytes - 1;
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, off);
    writeSync(fd, Buffer.from([b[0] ^ 0xff]), 0, 1, off);
    return off;
  } finally {
    closeSync(fd);
  }
}

let img: string;
let hello1: Sysext;
let hello2: Sysext;

beforeAll(async () => {
  os = await exampleOs('1');
  for (const d of ['rel1', 'rel2', 'loose']) mkdirSync(join(dir, d));
  const pub = (d: string) => ['--sysupdate', join(dir, d), '--sysupdate-source', RELEASE_ON_NODE];
  hello1 = await sysext(tree('hello1', 'hello-sysext', '1'), 'hello', '1', 'debian', pub('rel1'));
  hello2 = await sysext(tree('hello2', 'hello-sysext', '2'), 'hello', '2', 'debian', pub('rel2'));
  const wrong = await sysext(tree('wrongos', 'wrongos-sysext', 'w'), 'wrongos', '1', 'fedora', ['-o', join(dir, 'loose/wrongos.raw')]);
  const other = await sysext(tree('other', 'other-sysext', '1'), 'other', '1', 'debian', ['-o', join(dir, 'loose/other.raw')]);
  flipUnreadByte(other.output, other);

  img = await image('node', await nodeRoot('node', (root) => {
    installHello(root, hello1);
    for (const x of [wrong, other]) for (const f of [x.output, x.roothashFile]) cpSync(f, join(root, 'var/lib/extensions', f.split('/').pop()!));
    // the v2 release folder on the node, and its transfers (hello.conf, hello.roothash.conf) in /etc
    cpSync(join(dir, 'rel2'), join(root, RELEASE_ON_NODE.slice(1)), { recursive: true });
    mkdirSync(join(root, 'etc/sysupdate.d'));
    for (const f of ['hello.conf', 'hello.roothash.conf']) cpSync(join(dir, 'rel2', f), join(root, 'etc/sysupdate.d', f));
  }));
}, 1_800_000);

afterAll(() => {
  if (durations.length) console.log(`sysext boot durations (s): ${durations.map((d) => (d / 1000).toFixed(1)).join(' ')}`);
});

describe('system extensions on the booted example OS (systemd 254)', { timeout: (BOOT_S + 60) * 1000 }, () => {
  it('merges hello through dm-verity, refuses the wrong OS ID and a changed byte, and takes v2 from systemd-sysupdate', async () => {
    const { json, exitCode, log } = await boot(img, 'node', { timeoutS: BOOT_S, extraArgs: OS_QEMU });
    expect(exitCode, json.failure?.detail).toBe(0);
    const p = phases(log);
    // at boot: systemd-sysext.service merged hello (v1) and found, but did not merge, wrongos; it never
    // saw other (no crash, no empty merge)
    expect(p.boot, said(log)).toMatchObject({ service: 'active/success', merged: 'hello', releases: 'hello', found: 'hello,wrongos', hello: '1' });
    expect(log).toContain("IMGBUILD-SYSEXT-LOG Extension 'wrongos' is for OS 'fedora', but deployed on top of 'debian'.");
    expect(log).toContain("IMGBUILD-SYSEXT-LOG Using extensions 'hello'.");
    // imgbuild-sysext-check read each through dm-verity first: two let by, the changed one refused
    expect(log).toContain('imgbuild-sysext-check: hello: verified');
    expect(log).toContain('imgbuild-sysext-check: wrongos: verified');
    expect(log).toMatch(/imgbuild-sysext-check: other: refused, moved to \/var\/lib\/extensions\.refused: dm-verity refused a block/);
    expect(log).toMatch(/device-mapper: verity: [^\r\n]*data block \d+ is corrupted/);
    expect(log).not.toMatch(/terminated by signal ABRT/);
    // through dm-verity, with the root hash from hello.roothash (libcryptsetup's debug line)
    expect(log).toContain(`IMGBUILD-SYSEXT-LOG Activating volume ${hello1.rootHash}-verity by volume key.`);
    // systemd-sysupdate installed v2 and its root hash; the refreshed merge runs v2
    expect(p.update, said(log)).toMatchObject({ rc: '0', service: 'active/success', merged: 'hello', hello: '2' });
    expect(log).toContain("IMGBUILD-SYSEXT-LOG Selected update '2' for install.");
    expect(log).toMatch(/IMGBUILD-SYSEXT-LOG Updated symlink '\/var\/lib\/extensions\/hello\.raw' \S+ '\.\.\/extensions\.d\/hello-2-x86-64\.raw'/);
    expect(log).toMatch(/IMGBUILD-SYSEXT-LOG Updated symlink '\/var\/lib\/extensions\/hello\.roothash' \S+ '\.\.\/extensions\.d\/hello-2-x86-64\.roothash'/);
    expect(log).toContain(`IMGBUILD-SYSEXT-LOG Activating volume ${hello2.rootHash}-verity by volume key.`);
    // the OS stays healthy with an extension merged over /usr, and its marker names both verdicts;
    // no reboot loop, no fallback: the refused extension's fault is not the slot's
    expect(json).toMatchObject({ slot: 'A', version: '1', health: 'ok', failure: null });
    expect(json.details).toMatchObject({ usr: 'verity-ro', sysext: 'hello', refused: 'other', bless: 'already-good' });
    expect(json.resets.count).toBe(0);
  });
});
