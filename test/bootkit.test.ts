/** The boot kit: hack/bootkit.sh output contract, initramfs contents, caching and reproducibility. */
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, tempDir } from './helpers.js';

const SCRIPT = join(ROOT, 'hack/bootkit.sh');
const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

async function kit(env: Record<string, string> = {}) {
  const r = await execa('bash', [SCRIPT], { env, reject: false });
  expect(r.exitCode, String(r.stderr)).toBe(0);
  const lines = String(r.stdout).trim().split('\n');
  const [k, i] = lines.slice(-2);
  expect(k).toMatch(/^kernel=\//);
  expect(i).toMatch(/^initrd=\//);
  return { kernel: k.slice('kernel='.length), initrd: i.slice('initrd='.length), stderr: String(r.stderr) };
}

/** `cpio -itv` of the gzip'd initramfs. */
async function listing(initrd: string): Promise<string[]> {
  const r = await execa('sh', ['-c', `zcat '${initrd}' | cpio -itv --quiet`]);
  return String(r.stdout).split('\n');
}

describe('hack/bootkit.sh', () => {
  let first: Awaited<ReturnType<typeof kit>>;
  beforeAll(async () => {
    first = await kit();
  }, 900_000);

  it('ends with kernel= and initrd= absolute paths to existing files', () => {
    expect(existsSync(first.kernel)).toBe(true);
    expect(existsSync(first.initrd)).toBe(true);
    expect(first.kernel.startsWith(join(ROOT, '.cache/bootkit/'))).toBe(true);
    // a bzImage: "HdrS" at 0x202
    expect(readFileSync(first.kernel).subarray(0x202, 0x206).toString('latin1')).toBe('HdrS');
  });

  it('reuses the cache: the same files, nothing fetched or built again', async () => {
    const stamp = statSync(first.initrd).mtimeMs;
    const again = await kit();
    expect(statSync(again.initrd).mtimeMs).toBe(stamp);
    expect(again.kernel).toBe(first.kernel);
    expect(again.initrd).toBe(first.initrd);
    expect(again.stderr).not.toMatch(/fetching|building/);
  });

  it('packs /init, busybox, cgpt, veritysetup, libraries outside /usr and the modules in dependency order', async () => {
    const names = (await listing(first.initrd)).map((l) => l.split(/\s+/).pop()!.replace(/ -> .*/, ''));
    const all = (await listing(first.initrd)).join('\n');
    for (const f of ['init', 'bin/busybox', 'bin/sh', 'sbin/cgpt', 'sbin/veritysetup', 'lib/modules/load.order']) {
      expect(all).toMatch(new RegExp(`\\s${f.replace('/', '\\/')}(\\s|$)`));
    }
    expect(all).toMatch(/lib64\/ld-linux-x86-64\.so\.2/);
    expect(all).toMatch(/lib\/x86_64-linux-gnu\/libcrypto\.so/);
    // /usr is an empty mount point: nothing lives under it
    expect(names.filter((n) => n.startsWith('usr/'))).toEqual([]);
    const order = String((await execa('sh', ['-c', `zcat '${first.initrd}' | cpio -i --quiet --to-stdout lib/modules/load.order`])).stdout)
      .trim()
      .split('\n');
    const idx = (m: string) => order.indexOf(`${m}.ko`);
    for (const m of ['virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_ring', 'virtio', 'virtio_pci', 'virtio_blk', 'dm-mod', 'dm-bufio', 'reed_solomon', 'dm-verity', 'squashfs']) {
      expect(idx(m), m).toBeGreaterThanOrEqual(0);
    }
    expect(idx('virtio_ring')).toBeLessThan(idx('virtio'));
    expect(idx('virtio')).toBeLessThan(idx('virtio_pci'));
    expect(idx('virtio')).toBeLessThan(idx('virtio_blk'));
    expect(idx('dm-mod')).toBeLessThan(idx('dm-bufio'));
    expect(idx('dm-bufio')).toBeLessThan(idx('dm-verity'));
    expect(idx('reed_solomon')).toBeLessThan(idx('dm-verity'));
    // the watchdog's own list, the core first (Debian builds both as modules), loaded by /init
    const wd = String((await execa('sh', ['-c', `zcat '${first.initrd}' | cpio -i --quiet --to-stdout lib/modules/watchdog.order`])).stdout).trim().split('\n');
    expect(wd).toEqual(['watchdog.ko', 'i6300esb.ko']);
  });

  it('is a reproducible cpio: root-owned, fixed mtimes, sorted', async () => {
    const lines = (await listing(first.initrd)).filter(Boolean);
    for (const l of lines) expect(l, l).toMatch(/^\S+\s+\d+\s+root\s+root\s/);
    const dates = new Set(lines.map((l) => l.split(/\s+/).slice(5, 8).join(' ')));
    expect(dates.size).toBe(1);
    const names = lines.map((l) => l.split(/\s+/)[8]);
    expect(names).toEqual([...names].sort());
  });

  it('rebuilds byte-identical in another cache folder', async () => {
    const cache = tempDir('imgbuild-bootkit-');
    // share the extracted kernel (no second download), rebuild the initramfs from scratch
    cpSync(join(ROOT, '.cache/bootkit/kernel'), join(cache, 'kernel'), { recursive: true });
    const other = await kit({ BOOTKIT_CACHE: cache });
    expect(other.initrd.startsWith(cache)).toBe(true);
    expect(other.stderr).toMatch(/building initramfs/);
    expect(sha(other.initrd)).toBe(sha(first.initrd));
    expect(sha(other.kernel)).toBe(sha(first.kernel));
  }, 300_000);
});
