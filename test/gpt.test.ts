/** The GPT judged by independent tools: sgdisk, cgpt and sfdisk must read exactly what we wrote. */
import { describe, expect, it } from 'vitest';
import { existsSync, openSync, readFileSync, writeSync, closeSync, writeFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BUILTIN_LAYOUT_NAMES } from '@imgbuild/core';
import { imgbuild, tempDir, tool } from './helpers.js';

const dir = tempDir();

interface ShownPartition {
  number: number;
  label: string;
  type: string;
  uuid: string;
  firstLba: number;
  lastLba: number;
  /** The common vocabulary: 0x + 16 hex digits; the decoded bits beside it. */
  attributes: string;
  attributeBits: { priority: number; tries: number; successful: boolean; legacyBiosBootable: boolean; readOnly: boolean };
  role: string | null;
}

async function show(img: string) {
  const r = await imgbuild(['gpt', 'show', img, '--json']);
  expect(r.exitCode, String(r.stderr)).toBe(0);
  return JSON.parse(String(r.stdout)) as { gpt: { source: string; needsRepair: boolean }; diskGuid: string; partitions: ShownPartition[] };
}

async function cgptValue(img: string, n: number, flag: string): Promise<string> {
  return String((await tool('cgpt', ['show', '-i', String(n), flag, img])).stdout).trim();
}

describe.each(BUILTIN_LAYOUT_NAMES)('layout %s, judged by the reference tools', (layout) => {
  const img = join(dir, `${layout}.img`);

  it('gpt create writes a sparse image that sgdisk -v finds clean', async () => {
    const r = await imgbuild(['gpt', 'create', '--layout', layout, '--seed', 'test', '-o', img]);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const v = await tool('sgdisk', ['-v', img]);
    expect(String(v.stdout)).toMatch(/No problems found/);
    const du = await tool('du', ['-k', img]);
    expect(Number(String(du.stdout).split(/\s/)[0])).toBeLessThan(1024); // sparse: only the tables
  });

  it('sfdisk --json reads the same labels, types, UUIDs, starts and sizes', async () => {
    const ours = await show(img);
    const sf = JSON.parse(String((await tool('sfdisk', ['--json', img])).stdout)).partitiontable;
    expect(sf.label).toBe('gpt');
    expect(sf.id.toLowerCase()).toBe(ours.diskGuid);
    const theirs = sf.partitions.map((p: any) => ({
      number: Number(/(\d+)$/.exec(p.node)![1]),
      label: p.name,
      type: p.type.toLowerCase(),
      uuid: p.uuid.toLowerCase(),
      start: p.start,
      size: p.size,
    }));
    expect(theirs).toEqual(ours.partitions.map((p) => ({ number: p.number, label: p.label, type: p.type, uuid: p.uuid, start: p.firstLba, size: p.lastLba - p.firstLba + 1 })));
  });

  it('cgpt show reads the same attribute bits, labels, starts and sizes', async () => {
    const ours = await show(img);
    for (const p of ours.partitions) {
      expect(await cgptValue(img, p.number, '-l')).toBe(p.label);
      expect(Number(await cgptValue(img, p.number, '-b'))).toBe(p.firstLba);
      expect(Number(await cgptValue(img, p.number, '-s'))).toBe(p.lastLba - p.firstLba + 1);
      expect((await cgptValue(img, p.number, '-u')).toLowerCase()).toBe(p.uuid);
      expect(BigInt(await cgptValue(img, p.number, '-A'))).toBe(BigInt(p.attributes) >> 48n);
      expect(Number(await cgptValue(img, p.number, '-P'))).toBe(p.attributeBits.priority);
      expect(Number(await cgptValue(img, p.number, '-T'))).toBe(p.attributeBits.tries);
      expect(Number(await cgptValue(img, p.number, '-S'))).toBe(p.attributeBits.successful ? 1 : 0);
    }
    const usrA = ours.partitions.find((p) => p.role === 'usr-slot')!; // USR-A, or the versioned layouts' first slot
    expect(usrA.attributeBits).toMatchObject({ priority: 1, tries: 0, successful: true });
    expect(usrA.label).toMatch(/^(USR-A|imgbuild_)/);
  });
});

describe('reading tables made by others', () => {
  it('reads a table made by sgdisk exactly', async () => {
    const img = join(dir, 'sgdisk.img');
    await tool('truncate', ['-s', '64M', img]);
    await tool('sgdisk', [
      '-U', '11111111-2222-4333-8444-555555555555',
      '-n', '1:2048:+8M', '-t', '1:ef00', '-c', '1:EFI-SYSTEM', '-u', '1:aaaaaaaa-0000-4000-8000-000000000001',
      '-n', '3:0:+16M', '-t', '3:5dfbf5f4-2848-4bac-aa5e-0d9a20b745a6', '-c', '3:USR-A', '-A', '3:set:48', '-A', '3:set:56', '-A', '3:set:60',
      img,
    ]);
    const ours = await show(img);
    expect(ours.diskGuid).toBe('11111111-2222-4333-8444-555555555555');
    expect(ours.partitions.map((p) => [p.number, p.label, p.firstLba])).toEqual([[1, 'EFI-SYSTEM', 2048], [3, 'USR-A', 18432]]);
    expect(ours.partitions[0].uuid).toBe('aaaaaaaa-0000-4000-8000-000000000001');
    expect(ours.partitions[0].type).toBe('c12a7328-f81f-11d2-ba4b-00a0c93ec93b');
    expect(ours.partitions[1].lastLba).toBe(18432 + 16 * 2048 - 1);
    expect(ours.partitions[1].attributes).toBe('0x1101000000000000');
    expect(ours.partitions[1].attributeBits).toMatchObject({ priority: 1, tries: 0, successful: true, readOnly: true });
    expect(ours.partitions.map((p) => p.role)).toEqual(['esp', 'usr-slot']); // told by type (and label) alone
  });
});

describe('damage and repair', () => {
  it('reads from the backup when the primary header is zeroed; repair makes sgdisk clean again', async () => {
    const img = join(dir, 'damaged.img');
    expect((await imgbuild(['gpt', 'create', '--layout', 'mini', '-o', img])).exitCode).toBe(0);
    const before = await show(img);
    const fd = openSync(img, 'r+');
    writeSync(fd, Buffer.alloc(512), 0, 512, 512);
    closeSync(fd);
    const after = await show(img);
    expect(after.gpt.source).toBe('backup');
    expect(after.gpt.needsRepair).toBe(true);
    expect(after.partitions).toEqual(before.partitions);
    const rep = await imgbuild(['gpt', 'repair', img]);
    expect(rep.exitCode, String(rep.stderr)).toBe(0);
    expect(String(rep.stdout)).toMatch(/repaired from the backup copy/);
    expect(String((await tool('sgdisk', ['-v', img])).stdout)).toMatch(/No problems found/);
    expect((await show(img)).gpt.source).toBe('primary');
  });

  it('rebuilds a damaged backup from the primary', async () => {
    const img = join(dir, 'damaged-backup.img');
    expect((await imgbuild(['gpt', 'create', '--layout', 'mini', '-o', img])).exitCode).toBe(0);
    const size = statSync(img).size;
    const fd = openSync(img, 'r+');
    writeSync(fd, Buffer.alloc(512, 0xff), 0, 512, size - 512);
    closeSync(fd);
    expect((await show(img)).gpt.needsRepair).toBe(true);
    expect((await imgbuild(['gpt', 'repair', img])).exitCode).toBe(0);
    expect(String((await tool('sgdisk', ['-v', img])).stdout)).toMatch(/No problems found/);
    expect((await show(img)).gpt.needsRepair).toBe(false);
  });

  it('says so in one line when both copies are gone', async () => {
    const img = join(dir, 'blank.img');
    writeFileSync(img, Buffer.alloc(1024 * 1024));
    const r = await imgbuild(['gpt', 'show', img]);
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr).trim().split('\n')).toHaveLength(1);
    expect(String(r.stderr)).toMatch(/no valid GPT/);
  });
});

describe('CLI behaviour', () => {
  it('is reproducible: the same layout and seed give the same bytes', async () => {
    const a = join(dir, 'r1.img');
    const b = join(dir, 'r2.img');
    await imgbuild(['gpt', 'create', '--layout', 'mini', '--seed', 's', '-o', a]);
    await imgbuild(['gpt', 'create', '--layout', 'mini', '--seed', 's', '-o', b]);
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
  });

  it('never touches an existing output without --force, and leaves no temporary behind', async () => {
    const img = join(dir, 'exists.img');
    writeFileSync(img, 'precious');
    const r = await imgbuild(['gpt', 'create', '--layout', 'mini', '-o', img]);
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr)).toMatch(/exists.img: output exists/);
    expect(readFileSync(img, 'utf8')).toBe('precious');
    expect((await imgbuild(['gpt', 'create', '--layout', 'mini', '-o', img, '--force'])).exitCode).toBe(0);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('names the file and the problem for a bad layout file, exit 1', async () => {
    const layout = join(dir, 'bad.json');
    writeFileSync(layout, JSON.stringify({ partitions: [{ number: 1, label: 'A', type: 'nope', size: '1MiB' }] }));
    const out = join(dir, 'never.img');
    const r = await imgbuild(['gpt', 'create', '--layout', layout, '-o', out]);
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr)).toContain('bad.json');
    expect(String(r.stderr)).toMatch(/unknown partition type "nope"/);
    expect(existsSync(out)).toBe(false);
  });

  it('exits 2 on usage errors', async () => {
    expect((await imgbuild(['gpt', 'create', '-o', join(dir, 'x.img')])).exitCode).toBe(2);
    expect((await imgbuild(['frobnicate'])).exitCode).toBe(2);
    expect((await imgbuild(['--help'])).exitCode).toBe(0);
  });

  it('layout show --json gives the planned geometry', async () => {
    const r = await imgbuild(['layout', 'show', 'flatcar', '--json']);
    const j = JSON.parse(String(r.stdout));
    expect(j.totalSectors).toBe(9289728);
    expect(j.partitions.find((p: any) => p.label === 'USR-B')).toMatchObject({ firstLba: 2367488, lastLba: 2367488 + 2097152 - 1, sectors: 2097152, slot: 'B', role: 'usr-slot' });
  });
});
