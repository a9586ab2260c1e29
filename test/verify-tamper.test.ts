/**
 * The tamper matrix: one image is built and updated (both slots filled), then for every region one
 * change is made to a sparse copy and `imgbuild verify --json` must exit 1 naming that region and
 * field. Changing only the slots' boot bits, or writing the ROOT partition, must still pass.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { closeSync, cpSync, openSync, readFileSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { crc32, decodeHeader, decodeEntry, encodeEntry, encodeHeader, FileStorage, readGpt, writeGpt, type GptEntry } from '@imgbuild/core/gpt';
import { decodeVeritySuperblock, encodeVeritySuperblock } from '@imgbuild/core/verity';
import { buildUki, readUki, DEFAULT_UKI_STUB } from '../packages/core/src/boot/uki.js';
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { fakeBzImage, imgbuild, makeUsr, tempDir, tool } from './helpers.js';

const dir = tempDir('imgbuild-tamper-');
const env = { SOURCE_DATE_EPOCH: '1700000000' };
const pristine = join(dir, 'pristine.raw');
let m: any; // the pristine manifest
let n = 0;
let usr1 = '';

interface Check { region: string; name: string; status: string; ok: boolean; expected: unknown; found: unknown; detail: string }
interface Verdict { exitCode: number; ok: boolean; checks: Check[]; stderr: string }

const SS = 512;
const part = (num: number) => m.partitions.find((p: any) => p.number === num);
const partStart = (num: number) => part(num).firstLba * SS;
const esp = () => m.partitions.find((p: any) => p.role === 'esp');
const mt = (img: string) => `${img}@@${esp().firstLba * SS}`;
const MT_ENV = { MTOOLS_SKIP_CHECK: '1' };

function readAt(path: string, offset: number, length: number): Buffer {
  const fd = openSync(path, 'r');
  const b = Buffer.alloc(length);
  readSync(fd, b, 0, length, offset);
  closeSync(fd);
  return b;
}
function writeAt(path: string, offset: number, data: Buffer): void {
  const fd = openSync(path, 'r+');
  writeSync(fd, data, 0, data.length, offset);
  closeSync(fd);
}
const flip = (path: string, offset: number) => writeAt(path, offset, Buffer.from([readAt(path, offset, 1)[0] ^ 0x5a]));

/** A sparse copy of the pristine image and its manifest. */
async function copy(): Promise<string> {
  const img = join(dir, `t${n++}.raw`);
  await tool('cp', ['--sparse=always', '--reflink=auto', pristine, img]);
  cpSync(`${pristine}.manifest.json`, `${img}.manifest.json`);
  return img;
}

async function verify(img: string): Promise<Verdict> {
  const r = await imgbuild(['verify', img, '--json']);
  const stdout = String(r.stdout);
  const j = stdout ? JSON.parse(stdout) : { ok: false, checks: [] };
  return { exitCode: r.exitCode ?? -1, ok: j.ok, checks: j.checks, stderr: String(r.stderr) };
}

async function tamper(change: (img: string) => Promise<void> | void): Promise<Verdict> {
  const img = await copy();
  await change(img);
  return verify(img);
}

function failures(v: Verdict): Check[] {
  return v.checks.filter((c) => c.status === 'fail');
}

/** Exit 1 and a failing check of `region` whose name matches. */
function expectFail(v: Verdict, region: string, name: RegExp | string): Check {
  expect(v.exitCode, JSON.stringify(failures(v))).toBe(1);
  expect(v.ok).toBe(false);
  const hit = failures(v).find((c) => c.region === region && (typeof name === 'string' ? c.name === name : name.test(c.name)));
  expect(hit, `no failing ${region} check named ${name}; failures: ${JSON.stringify(failures(v), null, 1)}`).toBeDefined();
  return hit!;
}

function editManifest(img: string, fn: (m: any) => void): void {
  const p = `${img}.manifest.json`;
  const j = JSON.parse(readFileSync(p, 'utf8'));
  fn(j);
  writeFileSync(p, JSON.stringify(j, null, 2));
}

/** Rewrites one GPT copy's entry with valid CRCs (entry array and header), like a careful attacker. */
function editEntry(img: string, which: 'primary' | 'backup', num: number, fn: (e: GptEntry) => GptEntry): void {
  const lba = which === 'primary' ? 1 : m.disk.totalSectors - 1;
  const h = decodeHeader(readAt(img, lba * SS, SS));
  const array = readAt(img, h.entriesLba * SS, h.entryCount * h.entrySize);
  encodeEntry(fn(decodeEntry(array, (num - 1) * h.entrySize)), h.entrySize).copy(array, (num - 1) * h.entrySize);
  writeAt(img, h.entriesLba * SS, array);
  writeAt(img, lba * SS, encodeHeader({ ...h, entriesCrc32: crc32(array) }, SS));
}

function editHeader(img: string, which: 'primary' | 'backup', fn: (h: ReturnType<typeof decodeHeader>) => void): void {
  const lba = which === 'primary' ? 1 : m.disk.totalSectors - 1;
  const h = decodeHeader(readAt(img, lba * SS, SS));
  fn(h);
  writeAt(img, lba * SS, encodeHeader(h, SS));
}

function editSuperblock(img: string, slot: 'A' | 'B', fn: (sb: ReturnType<typeof decodeVeritySuperblock>) => void): void {
  const at = partStart(m.slots[slot].partition) + m.slots[slot].hashOffset;
  const sb = decodeVeritySuperblock(readAt(img, at, 512));
  fn(sb);
  writeAt(img, at, encodeVeritySuperblock(sb));
}

beforeAll(async () => {
  const kernel = join(dir, 'vmlinuz');
  const initrd = join(dir, 'initrd.img');
  writeFileSync(kernel, fakeBzImage());
  writeFileSync(initrd, randomBytes(50_000));
  const [u1, u2] = await Promise.all([makeUsr(dir, '1'), makeUsr(dir, '2')]);
  usr1 = u1;
  let r = await imgbuild(['build', '--from', u1, '--kernel', kernel, '--initrd', initrd, '--seed', 'tamper', '-o', pristine], { env });
  expect(r.exitCode, String(r.stderr)).toBe(0);
  r = await imgbuild(['update', pristine, '--from', u2], { env });
  expect(r.exitCode, String(r.stderr)).toBe(0);
  m = JSON.parse(readFileSync(`${pristine}.manifest.json`, 'utf8'));
  expect(m.manifestVersion).toBe(2);
  expect(Object.keys(m.slots)).toEqual(['A', 'B']);
});

describe('what must pass', () => {
  it('the pristine image passes; JSON carries region, name, ok, expected, found, detail', async () => {
    const v = await verify(pristine);
    expect(v.exitCode, JSON.stringify(failures(v))).toBe(0);
    expect(v.ok).toBe(true);
    for (const c of v.checks) {
      expect(Object.keys(c).sort()).toEqual(['detail', 'expected', 'found', 'name', 'ok', 'region', 'status']);
      expect(c.expected === undefined || c.found === undefined).toBe(false);
    }
    const regions = new Set(v.checks.map((c) => c.region));
    for (const r of ['disk', 'mbr', 'gpt.primary', 'gpt.backup', 'slot A', 'slot B', 'esp', 'boot', 'reserved', 'unallocated']) expect(regions).toContain(r);
    expect(v.checks.filter((c) => c.region === 'slot B' && c.name === 'dm-verity')[0].ok).toBe(true);
  });

  it('changing only the slots\' boot bits (imgbuild slot set) passes and reports them as state', async () => {
    const img = await copy();
    for (const [slot, args] of [['A', ['--priority', '7', '--tries', '3', '--successful', '0']], ['B', ['--priority', '0', '--tries', '0', '--successful', '1']]] as const) {
      const r = await imgbuild(['slot', 'set', img, slot, ...args]);
      expect(r.exitCode, String(r.stderr)).toBe(0);
    }
    const v = await verify(img);
    expect(v.exitCode, JSON.stringify(failures(v))).toBe(0);
    const bits = v.checks.filter((c) => c.status === 'state' && c.region === 'gpt.primary');
    expect(bits.map((c) => c.found)).toEqual(['priority 7, tries 3, successful 0', 'priority 0, tries 0, successful 1']);
    expect(v.checks.find((c) => c.region === 'image')!.detail).toMatch(/differs/);
  });

  it('a write to ROOT is reported as not covered: writable, and passes', async () => {
    const root = m.partitions.find((p: any) => p.role === 'root');
    const v = await tamper((img) => writeAt(img, root.firstLba * SS + 4096, randomBytes(8192)));
    expect(v.exitCode, JSON.stringify(failures(v))).toBe(0);
    expect(v.checks).toContainEqual(expect.objectContaining({ region: `partition ${root.number} (ROOT)`, name: 'writable', status: 'not-covered', ok: true }));
  });
});

describe('every region fails when changed', () => {
  it('protective MBR byte', async () => {
    const c = expectFail(await tamper((img) => flip(img, 440)), 'mbr', 'LBA 0 sha256');
    expect(c.expected).toBe(m.protectiveMbr.sha256);
  });

  it('primary header field (valid CRC)', async () => {
    const c = expectFail(await tamper((img) => editHeader(img, 'primary', (h) => void (h.lastUsableLba -= 1))), 'gpt.primary', 'header lastUsableLba');
    expect(c).toMatchObject({ expected: m.gpt.primary.lastUsableLba, found: m.gpt.primary.lastUsableLba - 1 });
  });

  it('primary header CRC', async () => {
    expectFail(await tamper((img) => flip(img, SS + 16)), 'gpt.primary', 'header CRC32');
  });

  it('backup header field (valid CRC)', async () => {
    const guid = '11111111-2222-4333-8444-555555555555';
    const c = expectFail(await tamper((img) => editHeader(img, 'backup', (h) => void (h.diskGuid = guid))), 'gpt.backup', 'header diskGuid');
    expect(c).toMatchObject({ expected: m.disk.guid, found: guid });
  });

  it('primary entry: type', async () => {
    const linux = '0fc63daf-8483-4772-8e79-3d69d8477de4';
    const v = await tamper((img) => editEntry(img, 'primary', 4, (e) => ({ ...e, type: linux })));
    const c = expectFail(v, 'gpt.primary', 'partition 4 (USR-B) type');
    expect(c).toMatchObject({ expected: '5dfbf5f4-2848-4bac-aa5e-0d9a20b745a6', found: linux });
    expect(failures(v).some((f) => f.region === 'gpt.backup')).toBe(false);
  });

  it('primary entry: GUID', async () => {
    const c = expectFail(await tamper((img) => editEntry(img, 'primary', 6, (e) => ({ ...e, uuid: '99999999-2222-4333-8444-555555555555' }))), 'gpt.primary', 'partition 6 (OEM) uuid');
    expect(c.expected).toBe(part(6).uuid);
  });

  it('primary entry: name', async () => {
    const c = expectFail(await tamper((img) => editEntry(img, 'primary', 2, (e) => ({ ...e, name: 'EVIL' }))), 'gpt.primary', 'partition 2 (BIOS-BOOT) label');
    expect(c).toMatchObject({ expected: 'BIOS-BOOT', found: 'EVIL' });
  });

  it('primary entry: size', async () => {
    const c = expectFail(await tamper((img) => editEntry(img, 'primary', 9, (e) => ({ ...e, lastLba: e.lastLba - 8 }))), 'gpt.primary', 'partition 9 (ROOT) lastLba');
    expect(c).toMatchObject({ expected: part(9).lastLba, found: part(9).lastLba - 8 });
  });

  it('primary entry: a non-boot attribute bit of a slot (read-only, bit 60)', async () => {
    const c = expectFail(await tamper((img) => editEntry(img, 'primary', 3, (e) => ({ ...e, attributes: e.attributes | (1n << 60n) }))), 'gpt.primary', 'partition 3 (USR-A) attributes');
    expect(String(c.found)).toMatch(/^0x1/);
  });

  it('backup entry array', async () => {
    const v = await tamper((img) => editEntry(img, 'backup', 7, (e) => ({ ...e, type: '0fc63daf-8483-4772-8e79-3d69d8477de4' })));
    expectFail(v, 'gpt.backup', 'partition 7 (OEM-CONFIG) type');
    expectFail(v, 'gpt.backup', 'entry array sha256');
    expect(failures(v).some((f) => f.region === 'gpt.primary')).toBe(false);
  });

  it('an extra partition entry, in a GPT that is itself valid', async () => {
    let img = '';
    const v = await tamper(async (i) => {
      img = i;
      const disk = await FileStorage.open(i, true);
      try {
        const { table } = await readGpt(disk);
        table.entries[4] = { type: '0fc63daf-8483-4772-8e79-3d69d8477de4', uuid: 'abcdefab-2222-4333-8444-555555555555', firstLba: 2048, lastLba: 2055, attributes: 0n, name: 'EXTRA' };
        await writeGpt(disk, table);
      } finally {
        await disk.close();
      }
    });
    const disk = await FileStorage.open(img);
    try {
      expect((await readGpt(disk)).needsRepair).toBe(false);
    } finally {
      await disk.close();
    }
    expect(expectFail(v, 'gpt.primary', 'unexpected partition 5').detail).toMatch(/"EXTRA"/);
    expectFail(v, 'gpt.backup', 'unexpected partition 5');
  });

  it('a USR slot data byte', async () => {
    const c = expectFail(await tamper((img) => flip(img, partStart(m.slots.B.partition) + 5000)), 'slot B', 'dm-verity data');
    expect(c.detail).toMatch(/data block 1\b/);
  });

  it('a verity hash-tree byte', async () => {
    const at = partStart(m.slots.A.partition) + m.slots.A.hashOffset + 4096 + 10; // first tree block after the superblock's
    expectFail(await tamper((img) => flip(img, at)), 'slot A', /^dm-verity (hash|root)$/);
  });

  it('the verity superblock on disk (a salt added to the unsalted tree), manifest untouched: the cross-check names the field', async () => {
    expect(m.slots.A.salt).toBeNull();
    const v = await tamper((img) => editSuperblock(img, 'A', (sb) => void (sb.salt = Buffer.from('01', 'hex'))));
    const c = expectFail(v, 'slot A', 'slots.A.salt');
    expect(c.expected).toBe(m.slots.A.salt);
    expect(c.detail).toMatch(/\(manifest\).*\(superblock on disk\)/);
  });

  it('superblock and manifest edited to agree (dataBlocks - 1): the root hash still fails', async () => {
    const v = await tamper((img) => {
      editSuperblock(img, 'A', (sb) => void (sb.dataBlocks -= 1));
      editManifest(img, (j) => void (j.slots.A.dataBlocks -= 1));
    });
    expect(failures(v).some((c) => c.name.startsWith('slots.A.'))).toBe(false);
    expectFail(v, 'slot A', /^dm-verity/);
  });

  it('the manifest\'s dataBlocks edited', async () => {
    const c = expectFail(await tamper((img) => editManifest(img, (j) => void (j.slots.A.dataBlocks += 1))), 'slot A', 'slots.A.dataBlocks');
    expect(c).toMatchObject({ expected: m.slots.A.dataBlocks + 1, found: m.slots.A.dataBlocks });
  });

  it('the manifest\'s salt edited', async () => {
    const salt = 'ab'.repeat(32);
    const c = expectFail(await tamper((img) => editManifest(img, (j) => void (j.slots.B.salt = salt))), 'slot B', 'slots.B.salt');
    expect(c).toMatchObject({ expected: salt, found: m.slots.B.salt });
  });

  it('the manifest\'s rootHash edited', async () => {
    const fake = 'f'.repeat(64);
    const v = await tamper((img) => editManifest(img, (j) => void (j.slots.A.rootHash = fake)));
    expect(expectFail(v, 'slot A', /^dm-verity/).expected).toBe(fake);
    expect(expectFail(v, 'boot', /slot A root hash$/)).toMatchObject({ expected: fake, found: m.slots.A.rootHash });
  });

  it('one byte of a UKI file on the ESP', async () => {
    const f = m.esp.files[0];
    const v = await tamper(async (img) => {
      // Where the file's clusters are, from mtools: an update leaves the replaced UKI's bytes in free
      // clusters, so searching for the content could hit the dead copy.
      const chain = String((await tool('mshowfat', ['-i', mt(img), `::/${f.path}`], { env: MT_ENV })).stdout);
      const info = String((await tool('minfo', ['-i', mt(img)], { env: MT_ENV })).stdout);
      const num = (re: RegExp) => Number(re.exec(info)![1]);
      const spc = num(/cluster size: (\d+) sectors/);
      const dataStart = (num(/reserved \(boot\) sectors: (\d+)/) + num(/fats: (\d+)/) * num(/Big fatlen=(\d+)/)) * SS;
      const [, first, last] = /<(\d+)-(\d+)>/.exec(chain)!.map(Number);
      const cluster = first + Math.min(100, last - first); // some way into the file
      flip(img, esp().firstLba * SS + dataStart + (cluster - 2) * spc * SS + 7);
    });
    expect(expectFail(v, 'esp', `${f.path}: sha256`).expected).toBe(f.sha256);
  });

  it('the ESP\'s FAT boot sector (the volume id)', async () => {
    expectFail(await tamper((img) => flip(img, esp().firstLba * SS + 67)), 'esp', 'FAT boot sectors sha256');
  });

  it('an extra file on the ESP', async () => {
    const evil = join(dir, 'evil.efi');
    writeFileSync(evil, 'MZ evil');
    const v = await tamper((img) => tool('mcopy', ['-i', mt(img), evil, '::/EFI/evil.efi'], { env: MT_ENV }).then(() => undefined));
    expect(expectFail(v, 'esp', 'unexpected file EFI/evil.efi').expected).toBeNull();
  });

  it('a deleted ESP file', async () => {
    const f = m.esp.files[0];
    const v = await tamper((img) => tool('mdel', ['-i', mt(img), `::/${f.path}`], { env: MT_ENV }).then(() => undefined));
    expect(expectFail(v, 'esp', f.path)).toMatchObject({ expected: f.sha256, found: null, detail: 'missing' });
  });

  it('a reserved partition byte', async () => {
    const bios = m.partitions.find((p: any) => p.label === 'BIOS-BOOT');
    const c = expectFail(await tamper((img) => flip(img, bios.firstLba * SS + 1234)), 'reserved', `partition ${bios.number} (BIOS-BOOT) sha256`);
    expect(c.expected).toBe(m.reserved.find((r: any) => r.number === bios.number).sha256);
  });

  it('bytes appended to the image', async () => {
    const c = expectFail(await tamper((img) => writeAt(img, m.disk.bytes, Buffer.from('appended'))), 'disk', 'size');
    expect(c).toMatchObject({ expected: m.disk.bytes, found: m.disk.bytes + 8 });
  });

  it('the manifest\'s hashOffset edited: no superblock there', async () => {
    const c = expectFail(await tamper((img) => editManifest(img, (j) => void (j.slots.A.hashOffset -= 4096))), 'slot A', 'verity superblock');
    expect(c.detail).toMatch(/slots\.A\.hashOffset/);
  });

  it('a byte in unallocated space', async () => {
    expectFail(await tamper((img) => flip(img, 100 * SS)), 'unallocated', /sha256$/);
  });
});

describe('the manifest itself', () => {
  async function refused(edit: (j: any) => void, message: RegExp): Promise<void> {
    const img = await copy();
    editManifest(img, edit);
    const r = await imgbuild(['verify', img]);
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr).trim().split('\n')).toHaveLength(1);
    expect(String(r.stderr)).toMatch(message);
    expect(String(r.stderr)).not.toMatch(/undefined/);
  }

  it('refuses unknown keys, wrong types and missing fields, naming the key path', async () => {
    await refused((j) => void (j.slots.A.salt = 12), /manifest\.json: slots\.A\.salt: expected a hex string, got 12$/);
    await refused((j) => void (j.gpt.primary.extra = 1), /manifest\.json: gpt\.primary: unknown key "extra"$/);
    await refused((j) => void delete j.slots.B.dataBlocks, /manifest\.json: slots\.B\.dataBlocks: missing \(expected a non-negative integer\)$/);
    await refused((j) => void (j.partitions[0].attributes = '4'), /partitions\.0\.attributes: expected a 16-hex-digit string 0x…, got "4"$/);
    await refused((j) => void (j.manifestVersion = 3), /manifestVersion: expected 1 or 2, got 3$/);
  });

  /**
   * An image as imgbuild 0.1's first chain left it: one UKI at the removable-media path naming both
   * slots, no selector, and a version-1 manifest describing that.
   */
  async function toV1(img: string): Promise<void> {
    const at = mt(img);
    const a = readUki(Buffer.from((await execa('mcopy', ['-n', '-i', at, `::${m.boot.slots.A.uki}`, '-'], { encoding: 'buffer', stripFinalNewline: false, env: MT_ENV })).stdout as Uint8Array));
    const offset = m.slots.A.hashOffset;
    const slotArgs = (['A', 'B'] as const).filter((s) => m.slots[s]).flatMap((s) => [`verity.usr.${s}=PARTUUID=${m.slots[s].partuuid}`, `verity.usrhash.${s}=${m.slots[s].rootHash}`]);
    const cmdline = ['mount.usr=/dev/mapper/usr', 'mount.usrflags=ro', `verity.usrhashoffset=${offset}`, ...slotArgs, 'console=ttyS0,115200n8', 'panic=-1'].join(' ');
    const shared = buildUki({ stub: readFileSync(DEFAULT_UKI_STUB), kernel: a.kernel, initrd: a.initrd, cmdline, osRelease: a.osRelease ?? '' });
    const file = join(dir, `shared-${n}.efi`);
    writeFileSync(file, shared);
    for (const s of ['A', 'B'] as const) if (m.boot.slots[s]) await tool('mdel', ['-i', at, `::${m.boot.slots[s].uki}`], { env: MT_ENV });
    await tool('mcopy', ['-o', '-i', at, file, '::EFI/BOOT/BOOTX64.EFI'], { env: MT_ENV });
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    editManifest(img, (j) => {
      for (const k of ['protectiveMbr', 'gpt', 'esp', 'reserved', 'unallocated', 'architecture', 'buildConfig']) delete j[k];
      j.manifestVersion = 1;
      j.image = { name: j.image.name, sha256: '', bytes: j.image.bytes }; // version 1 had no digest, and a sha256 string
      j.partitions = j.partitions.map((p: any) => ({ number: p.number, label: p.label, type: p.type, uuid: p.uuid, startLba: p.firstLba, sizeBytes: (p.lastLba - p.firstLba + 1) * SS, role: p.role }));
      for (const s of Object.values(j.slots) as any[]) {
        for (const k of ['hash', 'hashType', 'dataBlockSize', 'hashBlockSize', 'superblockUuid']) delete s[k];
        s.salt ??= ''; // version 1 wrote a hex string, empty for none
      }
      j.boot = { style: 'uki', espPath: 'EFI/BOOT/BOOTX64.EFI', cmdline, kernelSha256: sha(a.kernel), initrdSha256: sha(a.initrd), ukiSha256: sha(shared) };
    });
  }

  it('a version-1 manifest is still read: what it recorded is checked, the rest is named not covered', async () => {
    const img = await copy();
    await toV1(img);
    let v = await verify(img);
    expect(v.exitCode, JSON.stringify(failures(v))).toBe(0);
    const nc = v.checks.filter((c) => c.status === 'not-covered').map((c) => `${c.region}: ${c.name}`);
    expect(nc).toEqual(expect.arrayContaining(['mbr: LBA 0', 'gpt.primary: header', 'esp: other files', 'unallocated: gaps']));
    // ... and still fails on what it did record.
    editManifest(img, (j) => void (j.slots.A.salt = 'ab'.repeat(32)));
    v = await verify(img);
    expectFail(v, 'slot A', 'slots.A.salt');
  });

  it('an image of the shared-UKI chain (version-1 manifest) is not updated: one line says to rebuild, nothing changes', async () => {
    const img = await copy();
    await toV1(img);
    const before = readFileSync(img);
    const r = await imgbuild(['update', img, '--from', usr1], { env });
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr).trim()).toMatch(/^imgbuild: .*t\d+\.raw: this image was built before the slot selector \(one UKI for both slots\); rebuild it/);
    expect(readFileSync(img).equals(before)).toBe(true);
  });
});
