/**
 * `imgbuild verity format` and `imgbuild verity-verify` as a user meets them: exit codes (0 ok,
 * 1 failed, 2 usage), one-line errors naming the file, nothing written on bad input, silence on
 * stderr when not a TTY, and `--slot` finding a USR partition of a disk image through its GPT.
 */
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { FileStorage, partitions, readGpt } from '@imgbuild/core/gpt';
import { formatVerity, maxDataBlocks } from '@imgbuild/core/verity';
import { imgbuild, tempDir, tool } from './helpers.js';

const dir = tempDir('imgbuild-verity-cli-');
const SALT = '42'.repeat(32);

function oneLine(stderr: unknown): string {
  const lines = String(stderr).trim().split('\n');
  expect(lines).toHaveLength(1);
  return lines[0];
}

/** Runs a command expected to fail; checks the exit code, the single stderr line and that nothing changed. */
async function refuses(args: string[], code: number, mention: RegExp, watch: string[] = []) {
  const before = watch.map((f) => (existsSync(f) ? readFileSync(f) : null));
  const listing = readdirSync(dir).sort();
  const r = await imgbuild(args);
  expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(code);
  expect(oneLine(r.stderr)).toMatch(mention);
  watch.forEach((f, i) => {
    const now = existsSync(f) ? readFileSync(f) : null;
    expect(now === null ? before[i] === null : before[i] !== null && now.equals(before[i]!), `${f} unchanged`).toBe(true);
  });
  expect(readdirSync(dir).sort(), 'no file (or temporary) left behind').toEqual(listing);
  return r;
}

const data = join(dir, 'data.img');
writeFileSync(data, randomBytes(300 * 4096));

describe('verity format', () => {
  it('prints the root hash, salt and uuid, and nothing on stderr when not a TTY', async () => {
    const h = join(dir, 'ok.hash');
    const r = await imgbuild(['verity', 'format', data, h, '--salt', SALT, '--uuid', '01234567-89ab-4cde-8f01-23456789abcd']);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^Root hash: +[0-9a-f]{64}$/m);
    expect(r.stdout).toMatch(new RegExp(`^Salt: +${SALT}$`, 'm'));
    const root = /Root hash: +(\S+)/.exec(String(r.stdout))![1];
    await tool('veritysetup', ['verify', data, h, root]);
  });

  it('derives salt and uuid from --seed, reproducibly', async () => {
    const a = JSON.parse(String((await imgbuild(['verity', 'format', data, join(dir, 'seed-a.hash'), '--seed', 's1', '--json'])).stdout));
    const b = JSON.parse(String((await imgbuild(['verity', 'format', data, join(dir, 'seed-b.hash'), '--seed', 's1', '--json'])).stdout));
    expect(a.rootHash).toBe(b.rootHash);
    expect(a.uuid).toBe(b.uuid);
    expect(readFileSync(join(dir, 'seed-a.hash')).equals(readFileSync(join(dir, 'seed-b.hash')))).toBe(true);
  });

  it('refuses a missing or unusable data file (exit 1, the file named, nothing written)', async () => {
    const h = join(dir, 'never.hash');
    await refuses(['verity', 'format', join(dir, 'missing.img'), h], 1, /missing\.img: data file does not exist$/);
    mkdirSync(join(dir, 'adir'), { recursive: true });
    await refuses(['verity', 'format', join(dir, 'adir'), h], 1, /adir: data file is not a regular file$/);
    await refuses(['verity', 'format', data, h, '--data-blocks', '301'], 1, /data\.img: .*less than 301 blocks/);
    expect(existsSync(h)).toBe(false);
  });

  it('refuses data that is not a multiple of the block size, unless --pad', async () => {
    const odd = join(dir, 'odd.img');
    writeFileSync(odd, randomBytes(3 * 4096 + 1000));
    const h = join(dir, 'odd.hash');
    await refuses(['verity', 'format', odd, h], 1, /odd\.img: data size 13288 is not a multiple of the data block size 4096 \(use --pad/, [odd]);
    const r = await imgbuild(['verity', 'format', odd, h, '--pad', '--json', '--salt', '-']);
    expect(r.exitCode).toBe(0);
    const out = JSON.parse(String(r.stdout));
    expect(out.dataBlocks).toBe(4);
    // veritysetup on the zero-padded copy agrees.
    const padded = join(dir, 'odd-padded.img');
    writeFileSync(padded, Buffer.concat([readFileSync(odd), Buffer.alloc(4096 - 1000)]));
    await tool('veritysetup', ['verify', padded, h, out.rootHash]);
  });

  it('refuses a hash offset inside the data of the same file, leaving it untouched', async () => {
    await refuses(['verity', 'format', data, '--hash-offset', String(100 * 4096), '--data-blocks', '300'], 1, /data\.img: hash area .* overlaps the data area/, [data]);
    // A link to the data file is the same file, whatever its name.
    const link = join(dir, 'link.img');
    symlinkSync(data, link);
    await refuses(['verity', 'format', data, link, '--force', '--hash-offset', '0'], 1, /data\.img: hash area 0\.\.\d+ overlaps the data area/, [data]);
    rmSync(link);
  });

  it('refuses malformed flags with exit 2, writing nothing', async () => {
    const h = join(dir, 'never.hash');
    for (const [flags, msg] of [
      [['--salt', 'xyz'], /--salt must be hex/],
      [['--salt', 'abc'], /--salt must be hex/],
      [['--hash', 'md5'], /--hash must be sha256, sha512 or sha1/],
      [['--format', '2'], /--format must be 0 or 1/],
      [['--data-block-size', '1000'], /data block size must be a power of two/],
      [['--hash-block-size', '256'], /hash block size must be a power of two/],
      [['--hash-offset', '100'], /hash offset 100 is not a multiple of 512/],
      [['--hash-offset', '-5'], /--hash-offset must be a non-negative integer/],
      [['--jobs', '0'], /--jobs must be at least 1/],
      [['--uuid', 'nope'], /not a GUID: nope/],
    ] as const) {
      await refuses(['verity', 'format', data, h, ...flags], 2, msg, [data]);
    }
    expect(existsSync(h)).toBe(false);
  });

  it('will not overwrite an existing hash file without --force', async () => {
    const h = join(dir, 'existing.hash');
    writeFileSync(h, 'keep me');
    await refuses(['verity', 'format', data, h], 1, /existing\.hash: hash file exists \(use --force/, [h]);
    expect((await imgbuild(['verity', 'format', data, h, '--force'])).exitCode).toBe(0);
  });
});

describe('verity-verify', () => {
  const h = join(dir, 'v.hash');
  let root = '';
  it('accepts a good tree (exit 0), says which block is bad (exit 1, one line)', async () => {
    const f = await imgbuild(['verity', 'format', data, h, '--salt', SALT, '--json']);
    root = JSON.parse(String(f.stdout)).rootHash;
    const ok = await imgbuild(['verity-verify', data, '--hash-file', h, '--root-hash', root]);
    expect(ok.exitCode).toBe(0);
    expect(ok.stderr).toBe('');
    expect(String(ok.stdout)).toContain(`verified: root hash ${root}, 300 data blocks`);

    const bad = join(dir, 'bad.img');
    const b = readFileSync(data);
    b[123 * 4096 + 77] ^= 0x10;
    writeFileSync(bad, b);
    const r = await imgbuild(['verity-verify', bad, '--hash-file', h, '--root-hash', root]);
    expect(r.exitCode).toBe(1);
    expect(oneLine(r.stderr)).toMatch(/bad\.img: verification failed \(data\): data block 123 does not match its hash/);
    const j = await imgbuild(['verity-verify', bad, '--hash-file', h, '--root-hash', root, '--json']);
    expect(j.exitCode).toBe(1);
    expect(JSON.parse(String(j.stdout))).toMatchObject({ ok: false, region: 'data', index: 123 });

    const wrong = await imgbuild(['verity-verify', data, '--hash-file', h, '--root-hash', '0'.repeat(64)]);
    expect(wrong.exitCode).toBe(1);
    expect(oneLine(wrong.stderr)).toMatch(/verification failed \(root\)/);
  });

  it('exits 2 on usage errors', async () => {
    await refuses(['verity-verify', data, '--root-hash', root], 2, /--hash-file, --hash-offset or --slot/);
    await refuses(['verity-verify', data, '--hash-file', h, '--root-hash', 'xyz'], 2, /root hash must be hex/);
    await refuses(['verity-verify', data, '--hash-file', h, '--root-hash', 'abcd'], 2, /root hash has 2 bytes/);
    await refuses(['verity-verify', data, '--hash-file', h, '--no-superblock', '--root-hash', root], 2, /--no-superblock needs --salt/);
    await refuses(['verity-verify', data, '--root-hash', root, '--root-hash', root], 2, /--hash-file, --hash-offset or --slot/);
  });

  it('exits 1 when the hash file has no superblock there', async () => {
    await refuses(['verity-verify', data, '--hash-offset', '4096', '--root-hash', root], 1, /verification failed \(superblock\)/);
  });
});

describe('verity-verify --slot on a disk image', () => {
  it('finds USR-A through the GPT and its hash area at the Flatcar offset', async () => {
    const img = join(dir, 'disk.img');
    const c = await imgbuild(['gpt', 'create', '--layout', 'mini', '-o', img]);
    expect(c.exitCode, String(c.stderr)).toBe(0);
    const s = await FileStorage.open(img);
    const { table } = await readGpt(s);
    await s.close();
    const usrA = partitions(table).find((p) => p.name === 'USR-A')!;
    const start = usrA.firstLba * table.sectorSize;
    const bytes = (usrA.lastLba - usrA.firstLba + 1) * table.sectorSize;
    const rel = maxDataBlocks(bytes) * 4096;
    const blocks = 2000;
    const fd = openSync(img, 'r+');
    writeSync(fd, randomBytes(blocks * 4096), 0, blocks * 4096, start);
    closeSync(fd);
    const r = await formatVerity({ dataPath: img, dataOffset: start, dataBlocks: blocks, hashOffset: start + rel, salt: Buffer.from(SALT, 'hex') });

    for (const slot of ['A', 'USR-A', String(usrA.number)]) {
      const v = await imgbuild(['verity-verify', img, '--slot', slot, '--root-hash', r.rootHash]);
      expect(v.exitCode, String(v.stderr)).toBe(0);
      expect(String(v.stdout)).toContain(`partition ${usrA.number}: verified`);
    }
    // Explicit relative offset works too; a wrong one finds no superblock.
    expect((await imgbuild(['verity-verify', img, '--slot', 'A', '--hash-offset', String(rel), '--root-hash', r.rootHash])).exitCode).toBe(0);
    expect((await imgbuild(['verity-verify', img, '--slot', 'A', '--hash-offset', '4096', '--root-hash', r.rootHash])).exitCode).toBe(1);
    // Slot B holds nothing.
    const b = await imgbuild(['verity-verify', img, '--slot', 'B', '--root-hash', r.rootHash]);
    expect(b.exitCode).toBe(1);
    expect(oneLine(b.stderr)).toMatch(/partition 4: verification failed \(superblock\)/);
    // veritysetup reads the partition the same way.
    const part = join(dir, 'usr-a.img');
    writeFileSync(part, readFileSync(img).subarray(start, start + bytes));
    await tool('veritysetup', ['verify', `--hash-offset=${rel}`, part, part, r.rootHash]);
  });
});

describe('a hash offset inside the data of the same file', () => {
  it('is refused as veritysetup refuses it, and the data stays as it was', async () => {
    const f = join(dir, 'overlap-data.bin');
    const data = randomBytes(3 * 4096);
    writeFileSync(f, data);
    const r = await imgbuild(['verity', 'format', f, '--hash-offset', '4096']);
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr)).toMatch(/overlap-data\.bin: .*overlaps the data area/);
    expect(readFileSync(f).equals(data)).toBe(true);
    const vs = await tool('veritysetup', ['format', f, f, '--hash-offset=4096'], { reject: false });
    expect(vs.exitCode).not.toBe(0);
  });
});
