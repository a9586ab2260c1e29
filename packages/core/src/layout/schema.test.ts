/**
 * The layout schema: typos and wrong types are refused with the key path and what was expected, every
 * documented form is still accepted, the built-ins plan to exactly the sectors (and default seeds)
 * they had before the schema, and GUIDs a layout fixes are unique.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LayoutError } from '../errors.js';
import { getBootBits } from '../gpt/attributes.js';
import { BUILTIN_LAYOUTS, USR_A_UUID, USR_B_UUID } from './builtin.js';
import { loadLayout } from './load.js';
import { derivePartitionUuid, planLayout, planToTable, requireSlotPair } from './plan.js';
import { parseLayoutSpec } from './schema.js';
import type { LayoutSpec } from './spec.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../../..');
const mini = (): LayoutSpec => structuredClone(BUILTIN_LAYOUTS.mini);
/** Any JSON, as a file could hold it. */
type Json = Record<string, any>;
const edit = (f: (s: Json) => void): Json => {
  const s = mini() as Json;
  f(s);
  return s;
};
const messageOf = (spec: unknown): string => {
  try {
    planLayout(spec as LayoutSpec, 'my.json');
  } catch (e) {
    expect(e).toBeInstanceOf(LayoutError);
    return (e as Error).message;
  }
  throw new Error('the layout was accepted');
};

describe('unknown keys are refused, naming the key path', () => {
  it.each([
    ['at the top level', edit((s) => (s.aligment = '1MiB')), 'my.json: unknown key "aligment" (did you mean "alignment"?)'],
    ['in a partition', edit((s) => { s.partitions[2].sise = s.partitions[2].size; delete s.partitions[2].size; }), 'my.json: partitions[2]: unknown key "sise" (did you mean "size"?)'],
    ['for attributes', edit((s) => { s.partitions[2].atributes = s.partitions[2].attributes; delete s.partitions[2].attributes; }), 'my.json: partitions[2]: unknown key "atributes" (did you mean "attributes"?)'],
    ['in attributes', edit((s) => (s.partitions[2].attributes = { priorty: 1 })), 'my.json: partitions[2].attributes: unknown key "priorty" (did you mean "priority"?)'],
    ['in a sectors size', edit((s) => (s.partitions[0].size = { sector: 8 })), 'my.json: partitions[0].size: unknown key "sector" (did you mean "sectors"?)'],
    ['with nothing near it', edit((s) => (s.partitions[1].colour = 'red')), 'my.json: partitions[1]: unknown key "colour"'],
  ])('%s', (_what, spec, message) => {
    expect(messageOf(spec)).toBe(message);
  });
});

describe('wrong types and values say what was expected and what was found', () => {
  it.each([
    ['number as a string', edit((s) => (s.partitions[1].number = '2')), /^my\.json: partitions\[1\]\.number: expected a partition number \(1, 2, \.\.\.\), got string "2"$/],
    ['label as a number', edit((s) => (s.partitions[1].label = 7)), /^my\.json: partitions\[1\]\.label: expected a label string, got number 7$/],
    ['size as a boolean', edit((s) => (s.partitions[1].size = true)), /^my\.json: partitions\[1\]\.size: expected a size: .*"rest", got boolean true$/],
    ['unparsable size', edit((s) => (s.partitions[1].size = 'lots')), /^my\.json: partitions\[1\]\.size: cannot parse size .*got string "lots"$/],
    ['fractional bytes', edit((s) => (s.partitions[1].size = 1.5)), /partitions\[1\]\.size: expected a whole number of bytes, got number 1\.5$/],
    ['negative start', edit((s) => (s.partitions[1].start = -1)), /partitions\[1\]\.start: expected a non-negative start sector, got number -1$/],
    ['priority out of range', edit((s) => (s.partitions[2].attributes = { priority: 16 })), /partitions\[2\]\.attributes\.priority: expected a priority 0-15, got number 16$/],
    ['successful as a string', edit((s) => (s.partitions[2].attributes = { successful: 'yes' })), /partitions\[2\]\.attributes\.successful: expected true or false, got string "yes"$/],
    ['attributes as a boolean', edit((s) => (s.partitions[2].attributes = true)), /partitions\[2\]\.attributes: expected attributes: .*got boolean true$/],
    ['unknown role', edit((s) => (s.partitions[1].role = 'boot')), /partitions\[1\]\.role: expected a role: one of esp, .*got string "boot"$/],
    ['uuid not a GUID', edit((s) => (s.partitions[1].uuid = 'abc')), /partitions\[1\]\.uuid: expected a GUID .*got string "abc"$/],
    ['sector size', edit((s) => (s.sectorSize = 1024)), /^my\.json: sectorSize: expected 512 or 4096, got number 1024$/],
    ['diskSize "rest"', edit((s) => (s.diskSize = 'rest')), /^my\.json: diskSize: cannot parse size .*"auto".*got string "rest"$/],
    ['alignment "rest"', edit((s) => (s.alignment = 'rest')), /^my\.json: alignment: cannot parse size/],
    ['partition not an object', edit((s) => (s.partitions[1] = 5)), /^my\.json: partitions\[1\]: expected a partition object .*got number 5$/],
    ['partitions not a list', edit((s) => (s.partitions = {})), /^my\.json: partitions: expected a list of partitions, got an object$/],
    ['layout not an object', [1, 2], /^my\.json: a layout is a JSON object with a "partitions" list, got a list$/],
    ['null', null, /^my\.json: a layout is a JSON object/],
  ])('%s', (_what, spec, re) => {
    expect(messageOf(spec)).toMatch(re);
  });
});

describe('missing fields are named, never "undefined"', () => {
  it.each([
    ['partitions', edit((s) => delete s.partitions), 'my.json: missing "partitions" (expected a list of partitions)'],
    ['number', edit((s) => delete s.partitions[1].number), 'my.json: partitions[1]: missing "number" (expected a partition number (1, 2, ...))'],
    ['label', edit((s) => delete s.partitions[1].label), 'my.json: partitions[1]: missing "label" (expected a label string)'],
    ['type', edit((s) => delete s.partitions[1].type), 'my.json: partitions[1]: missing "type" (expected a type GUID or alias (efi, flatcar-usr, usr-x86-64, ...))'],
    ['size', edit((s) => delete s.partitions[1].size), 'my.json: partitions[1]: missing "size" (expected a size: bytes as a number, a string such as "128MiB", { "sectors": N } or "rest")'],
    ['sectors', edit((s) => (s.partitions[1].size = {})), 'my.json: partitions[1].size: missing "sectors" (expected a positive whole number of sectors)'],
  ])('%s', (_what, spec, message) => {
    const m = messageOf(spec);
    expect(m).toBe(message);
    expect(m).not.toMatch(/undefined/);
  });
});

describe('every documented form is accepted', () => {
  it('the README example plans', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const block = /### Layout files[\s\S]*?```json\n([\s\S]*?)```/.exec(readme)![1];
    const plan = planLayout(JSON.parse(block), 'README');
    expect(plan.name).toBe('my-fleet');
    expect(requireSlotPair(plan).A.sizeBytes).toBe(1024 ** 3);
  });
  it.each([
    ['bytes', 8 * 1024 * 1024, 16384],
    ['KiB', '8192KiB', 16384],
    ['MiB', '8MiB', 16384],
    ['GiB', '1GiB', 2097152],
    ['decimal units', '8MB', 15625],
    ['fractions', '1.5MiB', 3072],
    ['sectors', { sectors: 4096 }, 4096],
  ])('size as %s', (_what, size, sectors) => {
    const p = planLayout({ partitions: [{ number: 1, label: 'X', type: 'linux-data', size }] });
    expect(p.partitions[0].sectors).toBe(sectors);
  });
  it('"rest", a fixed start, uuid, role, GUID types, attribute forms, alignment, diskSize and sectorSize', () => {
    const spec: LayoutSpec = {
      name: 'all-forms',
      description: 'every key',
      sectorSize: 4096,
      alignment: '1MiB',
      diskSize: '256MiB',
      diskGuid: '11111111-2222-4333-8444-555555555555',
      entryCount: 128,
      partitions: [
        { number: 1, label: 'ESP', type: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B', size: '64MiB', role: 'esp', attributes: { legacyBiosBootable: true } },
        { number: 2, label: 'USR-A', type: 'usr-x86-64', size: { sectors: 8192 }, start: 32768, uuid: USR_A_UUID, role: 'usr-slot', attributes: { priority: 2, tries: 3, successful: false } },
        { number: 3, label: 'USR-B', type: 'usr-x86-64', size: 32 * 1024 * 1024, role: 'usr-slot', attributes: '0x1000000000000' },
        { number: 4, label: 'DATA', type: 'linux-data', size: 'rest', attributes: 4 },
      ],
    };
    const p = planLayout(spec);
    expect(p.sectorSize).toBe(4096);
    expect(p.partitions[1].startLba).toBe(32768);
    expect(getBootBits(p.partitions[1].attributes)).toEqual({ priority: 2, tries: 3, successful: false });
    expect(getBootBits(p.partitions[2].attributes).priority).toBe(1);
    expect(p.partitions[3].attributes).toBe(4n);
    expect(p.partitions[3].endLba).toBeLessThanOrEqual(p.lastUsableLba);
  });
  it('a layout without slots plans (gpt create and layout show take it), but build refuses it', () => {
    const plan = planLayout({ name: 'plain', partitions: [{ number: 1, label: 'ESP', type: 'efi', size: '64MiB', role: 'esp' }] }, 'plain.json');
    expect(() => requireSlotPair(plan, 'plain.json')).toThrow(LayoutError);
    expect(() => requireSlotPair(plan, 'plain.json')).toThrow('layout plain: build needs one USR-A and one USR-B partition with role "usr-slot"; found none');
  });
});

describe('the versioned built-in layouts', () => {
  it.each(['sysupdate', 'sysupdate-mini'])('%s: slot 3 is A labelled imgbuild_@v (read-only, booting), slot 4 is B labelled _empty', async (name) => {
    expect(parseLayoutSpec(BUILTIN_LAYOUTS[name], name)).toBe(BUILTIN_LAYOUTS[name]);
    const plan = await loadLayout(name);
    expect(plan.partitions.filter((p) => p.role === 'usr-slot').map((p) => [p.number, p.label, p.slot, '0x' + p.attributes.toString(16)])).toEqual([
      [3, 'imgbuild_@v', 'A', '0x1101000000000000'],
      [4, '_empty', 'B', '0x0'],
    ]);
  });
});

describe('built-in layouts go through the schema and plan exactly as before it', () => {
  // sha256 of each plan's JSON (what defaultSeed hashes) and the sectors, taken before the schema existed.
  const before: Record<string, { hash: string; total: number; parts: [number, number, number, string][] }> = {
    flatcar: {
      hash: '03446558c66ba4a4cb419c0e3a4ed3b11310b1a9eb7069a34daa5063a7c155f6',
      total: 9289728,
      parts: [[1, 4096, 266239, '0x4'], [2, 266240, 270335, '0x0'], [3, 270336, 2367487, '0x101000000000000'], [4, 2367488, 4464639, '0x0'], [6, 4464640, 4726783, '0x0'], [7, 4726784, 4857855, '0x0'], [9, 4857856, 9285631, '0x0']],
    },
    'flatcar-2025': {
      hash: '7a17a840ca1bd433eb617f9c3724f3e1950f7f9913c5cdf3eb6f810c68dc3d40',
      total: 16920576,
      parts: [[1, 4096, 2101247, '0x4'], [2, 2101248, 2105343, '0x0'], [3, 2105344, 6299647, '0x101000000000000'], [4, 6299648, 10493951, '0x0'], [6, 10493952, 12591103, '0x0'], [7, 12591104, 12722175, '0x0'], [9, 12722176, 16916479, '0x0']],
    },
    mini: {
      hash: '92cd13ff80dbb9d051b3c47922c590f0ce3d28caeaea8e2748c761707ad74f68',
      total: 782336,
      parts: [[1, 4096, 135167, '0x4'], [2, 135168, 139263, '0x0'], [3, 139264, 401407, '0x101000000000000'], [4, 401408, 663551, '0x0'], [6, 663552, 696319, '0x0'], [7, 696320, 712703, '0x0'], [9, 712704, 778239, '0x0']],
    },
  };
  // the layouts that existed before the schema; the versioned ones (sysupdate, sysupdate-mini) came after
  it.each(Object.keys(before))('%s', async (name) => {
    expect(parseLayoutSpec(BUILTIN_LAYOUTS[name], name)).toBe(BUILTIN_LAYOUTS[name]);
    const plan = await loadLayout(name);
    const json = JSON.stringify(plan, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
    expect(createHash('sha256').update(json).digest('hex')).toBe(before[name].hash);
    expect(plan.totalSectors).toBe(before[name].total);
    expect(plan.partitions.map((p) => [p.number, p.startLba, p.endLba, '0x' + p.attributes.toString(16)])).toEqual(before[name].parts);
    expect(requireSlotPair(plan)).toEqual({ A: plan.partitions[2], B: plan.partitions[3] });
  });
});

describe('GUIDs', () => {
  it('refuses two partitions with one uuid, naming both and the GUID', () => {
    const spec = edit((s) => (s.partitions[3].uuid = USR_A_UUID.toUpperCase()));
    expect(messageOf(spec)).toBe(`my.json: partitions 3 (USR-A) and 4 (USR-B) share uuid ${USR_A_UUID}; PARTUUID= would name either`);
  });
  it('refuses a partition uuid equal to the disk GUID', () => {
    expect(messageOf(edit((s) => (s.diskGuid = USR_B_UUID)))).toBe(`my.json: partition 4 (USR-B) has uuid ${USR_B_UUID}, the same as the disk GUID`);
  });
  it('refuses the nil GUID', () => {
    const nil = '00000000-0000-0000-0000-000000000000';
    expect(messageOf(edit((s) => (s.partitions[0].uuid = nil)))).toMatch(/^my\.json: partitions\[0\]\.uuid: is the nil GUID/);
    expect(messageOf(edit((s) => (s.diskGuid = nil)))).toMatch(/^my\.json: diskGuid: is the nil GUID/);
  });
  it('refuses a fixed uuid equal to one the seed derives for another partition', () => {
    const plan = planLayout(mini());
    const espUuid = derivePartitionUuid('seed', plan.partitions[0].type, 0);
    const clash = planLayout(edit((s) => (s.partitions[4].uuid = espUuid)) as LayoutSpec, 'my.json'); // OEM takes the ESP's derived uuid
    expect(() => planToTable(clash, 'seed')).toThrow(LayoutError);
    expect(() => planToTable(clash, 'seed')).toThrow(`layout mini: partition 6 (OEM) would get uuid ${espUuid}, already taken by partition 1 (EFI-SYSTEM)`);
    expect(() => planToTable(clash, 'another seed')).not.toThrow();
  });
});

describe('requireSlotPair', () => {
  const base = (parts: Json[]) => planLayout({ name: 'x', alignment: '1MiB', partitions: [{ number: 1, label: 'ESP', type: 'efi', size: '64MiB', role: 'esp' }, ...parts] as LayoutSpec['partitions'] });
  const slot = (number: number, label: string, size = '8MiB') => ({ number, label, type: 'flatcar-usr', size, role: 'usr-slot' });
  it('returns the pair, A first', () => {
    const pair = requireSlotPair(base([slot(4, 'USR-B'), slot(3, 'USR-A')]));
    expect([pair.A.label, pair.B.label]).toEqual(['USR-A', 'USR-B']);
  });
  it('names the layout, the file and what it found', () => {
    const plain = base([{ number: 3, label: 'USR-A', type: 'flatcar-usr', size: '8MiB' }]);
    const e = (() => {
      try {
        requireSlotPair(plain, 'x.json');
      } catch (err) {
        return err as LayoutError;
      }
    })();
    expect(e).toBeInstanceOf(LayoutError);
    expect(e!.file).toBe('x.json');
    expect(e!.message).toBe('layout x: build needs one USR-A and one USR-B partition with role "usr-slot"; found none (partition 3 (USR-A) has role "data")');
  });
});
