/**
 * Shared helpers for the boot tests: the boot kit, /usr squashfs images, booting through the CLI, and
 * surgery on built images (flip a byte in a slot's file data, rewrite the root hash in the ESP's
 * boot files).
 */
import { execa } from 'execa';
import { mkdirSync, readFileSync, writeFileSync, chmodSync, openSync, readSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { imgbuild, ROOT, tool } from '../helpers.js';

export const SDE = '1700000000';
export const env = { SOURCE_DATE_EPOCH: SDE };
/** Per boot: ≈ 9 s here; the limit is generous for slow CI runners. */
export const BOOT_TIMEOUT_S = 300;

export interface Kit {
  kernel: string;
  initrd: string;
}

/** Runs hack/bootkit.sh (for arm64 images with `--arch arm64`) and reads its last two lines. */
export async function bootKit(arch: 'amd64' | 'arm64' = 'amd64'): Promise<Kit> {
  const r = await execa('bash', [join(ROOT, 'hack/bootkit.sh'), ...(arch === 'amd64' ? [] : ['--arch', arch])], { reject: false, timeout: 900_000 });
  if (r.exitCode !== 0) throw new Error(`hack/bootkit.sh failed:\n${r.stderr}`);
  const lines = String(r.stdout).trim().split('\n');
  const kernel = lines.at(-2)?.match(/^kernel=(\/.+)$/)?.[1];
  const initrd = lines.at(-1)?.match(/^initrd=(\/.+)$/)?.[1];
  if (!kernel || !initrd) throw new Error(`hack/bootkit.sh did not end with kernel=/initrd=:\n${r.stdout}`);
  return { kernel, initrd };
}

/**
 * A /usr squashfs: os-release with VERSION_ID, a health check exiting `healthExit` (none when null),
 * and `usr/share/payload.bin`: 256 KiB from a seeded generator (incompressible, so squashfs stores it
 * as is and its bytes can be found in the image), starting with a 64-byte tag unique to `version`.
 */
export async function usrImage(dir: string, version: string, healthExit: number | null): Promise<{ path: string; tag: Buffer }> {
  const tree = join(dir, `usr-${version}`);
  mkdirSync(join(tree, 'lib/imgbuild'), { recursive: true });
  mkdirSync(join(tree, 'share'), { recursive: true });
  mkdirSync(join(tree, 'bin'), { recursive: true });
  writeFileSync(join(tree, 'lib/os-release'), `NAME="imgbuild boot test"\nID=imgbuild-boot-test\nVERSION_ID=${version}\n`);
  writeFileSync(join(tree, 'bin/hello'), '#!/bin/sh\necho hello\n', { mode: 0o755 });
  if (healthExit !== null) {
    writeFileSync(join(tree, 'lib/imgbuild/health'), `#!/bin/sh\necho "health check of ${version}: exit ${healthExit}"\nexit ${healthExit}\n`);
    chmodSync(join(tree, 'lib/imgbuild/health'), 0o755);
  }
  const payload = Buffer.alloc(256 * 1024);
  let x = 0x9e3779b9 ^ version.charCodeAt(0);
  for (let i = 0; i < payload.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    payload[i] = x & 0xff;
  }
  const tag = Buffer.from(`imgbuild-boot-test-payload-${version}-`.padEnd(64, '#'));
  tag.copy(payload, 0);
  writeFileSync(join(tree, 'share/payload.bin'), payload);
  const path = join(dir, `usr-${version}.squashfs`);
  await tool('mksquashfs', [tree, path, '-noappend', '-all-root', '-quiet', '-mkfs-time', SDE, '-all-time', SDE]);
  return { path, tag };
}

export interface Manifest {
  partitions: Array<{ number: number; label: string; firstLba: number; lastLba: number; role: string }>;
  slots: Record<string, { rootHash: string; partition: number; partuuid: string; version?: string }>;
  boot: { selector: { path: string }; slots: Record<string, { uki: string; cmdline: string }> };
}

export const readManifest = (img: string) => JSON.parse(readFileSync(`${img}.manifest.json`, 'utf8')) as Manifest;

export interface SelectorChoice {
  slot: string;
  partition: number;
  priority: number;
  triesBefore: number;
  triesAfter: number;
  successful: boolean;
  attemptsBefore: number | null;
  attemptsAfter: number | null;
}

export interface BootJson {
  slot: string | null;
  usrhash: string | null;
  version: string | null;
  health: string;
  /** The example OS's marker fields (pid1, usr, root, bless, target, boots, sysext); {} for the test initramfs. */
  details?: Record<string, string>;
  selector: { lines: string[]; choices: SelectorChoice[] };
  failure: { reason: string; detail: string } | null;
  logPath: string | null;
  durationMs: number;
  resets: { count: number; watchdog: number; events: Array<{ atMs: number; cause: 'watchdog' | 'guest' }> };
}

export const durations: number[] = [];

/** An initrd whose /init cannot run: the kernel panics ("No working init found") and, with panic=-1, resets. */
export async function panickingInitrd(dir: string): Promise<string> {
  const root = join(dir, 'panic-initrd');
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'init'), '#!/nonexistent/interpreter\n', { mode: 0o755 });
  const out = join(dir, 'panic-initrd.cpio.gz');
  await execa('sh', ['-c', `cd "${root}" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 | gzip -n > "${out}"`]);
  return out;
}

/** Runs mtools against the image's ESP (`mdel`, `mdir`, ...). */
export async function onEsp(img: string, m: Manifest, cmd: string, args: string[]) {
  const esp = m.partitions.find((x) => x.role === 'esp')!;
  return tool(cmd, ['-i', `${img}@@${esp.firstLba * 512}`, ...args], { env: { MTOOLS_SKIP_CHECK: '1' } });
}

/**
 * `imgbuild qemu <img> --json --log <img>.<n>.log`; returns the JSON, its exit code and the log. With
 * allowReset the machine may reboot (the selector's fallback within one run), bounded by the timeout.
 */
export async function boot(img: string, name: string, opts: { allowReset?: boolean | number; timeoutS?: number; extraArgs?: string[] } = {}): Promise<{ json: BootJson; exitCode: number; log: string }> {
  const logPath = `${img}.${name}.log`;
  const timeoutS = opts.timeoutS ?? BOOT_TIMEOUT_S;
  const reset = opts.allowReset === undefined || opts.allowReset === false ? [] : opts.allowReset === true ? ['--allow-reset'] : ['--allow-reset', String(opts.allowReset)];
  const args = ['qemu', img, '--json', '--timeout', String(timeoutS), '--log', logPath, ...reset, ...(opts.extraArgs ?? [])];
  const r = await imgbuild(args, { timeout: (timeoutS + 60) * 1000 });
  expect(r.stdout, `imgbuild qemu printed no JSON: ${r.stderr}`).toMatch(/^\{/);
  const json = JSON.parse(String(r.stdout)) as BootJson;
  durations.push(json.durationMs);
  return { json, exitCode: r.exitCode ?? -1, log: readFileSync(logPath, 'latin1') };
}

export async function slotStatus(img: string) {
  const r = await imgbuild(['slot', 'status', img, '--json']);
  expect(r.exitCode, String(r.stderr)).toBe(0);
  const j = JSON.parse(String(r.stdout)) as { slots: Array<{ slot: string; priority: number; tries: number; successful: boolean; canBoot: boolean; attempts: number; demoted: boolean }>; next: string | null };
  const by = (s: string) => j.slots.find((x) => x.slot === s)!;
  return { ...j, A: by('A'), B: by('B') };
}

/**
 * Flips the byte `into` bytes after `tag` (a file's first bytes, stored uncompressed) inside the
 * partition `label`: well inside the file, away from the filesystem's first block (its superblock), so
 * the mount succeeds and only reading the file can notice. Returns the byte offset in the image.
 */
export function flipFileByte(img: string, m: Manifest, label: string, tag: Buffer, into = 100_000): number {
  const p = m.partitions.find((x) => x.label === label)!;
  const start = p.firstLba * 512;
  const buf = Buffer.alloc((p.lastLba - p.firstLba + 1) * 512);
  const fd = openSync(img, 'r+');
  try {
    readSync(fd, buf, 0, buf.length, start);
    const at = buf.indexOf(tag);
    expect(at, `tag not found in ${label}`).toBeGreaterThanOrEqual(0);
    expect(buf.indexOf(tag, at + 1), 'tag found twice').toBe(-1);
    const off = start + at + into;
    writeSync(fd, Buffer.from([buf[at + into] ^ 0xff]), 0, 1, off);
    return off;
  } finally {
    closeSync(fd);
  }
}

/**
 * Rewrites every occurrence of `from` in every file on the image's ESP (the UKI's .cmdline, a loader
 * entry: wherever the build put the command line), with mtools at the ESP's offset. Same length, so a
 * UKI's PE layout is untouched. Returns the files changed.
 */
export async function rewriteEsp(img: string, m: Manifest, from: string, to: string): Promise<string[]> {
  expect(to.length).toBe(from.length);
  const esp = m.partitions.find((x) => x.role === 'esp')!;
  const at = `${img}@@${esp.firstLba * 512}`;
  const files = String((await tool('mdir', ['-i', at, '-/', '-b', '::/'])).stdout)
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s && !s.endsWith('/'));
  const changed: string[] = [];
  for (const f of files) {
    const path = f.replace(/^::/, '');
    const r = await execa('mcopy', ['-n', '-i', at, `::${path}`, '-'], { encoding: 'buffer', stripFinalNewline: false });
    const data = Buffer.from(r.stdout as Uint8Array);
    const needle = Buffer.from(from);
    if (data.indexOf(needle) < 0) continue;
    let i = data.indexOf(needle);
    while (i >= 0) {
      Buffer.from(to).copy(data, i);
      i = data.indexOf(needle, i + needle.length);
    }
    const tmp = `${img}.esp-file`;
    writeFileSync(tmp, data);
    await tool('mcopy', ['-o', '-i', at, tmp, `::${path}`]);
    changed.push(path);
  }
  return changed;
}
