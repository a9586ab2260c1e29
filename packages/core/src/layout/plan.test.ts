import { describe, expect, it } from 'vitest';
import { LayoutError } from '../errors.js';
import { getBootBits } from '../gpt/attributes.js';
import { partitions } from '../gpt/table.js';
import { BUILTIN_LAYOUTS, USR_A_UUID, USR_B_UUID } from './builtin.js';
import { planLayout, planToTable, slotPartitions } from './plan.js';
import { parseBytes, type LayoutSpec } from './spec.js';

const mini = BUILTIN_LAYOUTS.mini;

function withParts(parts: LayoutSpec['partitions'], extra: Partial<LayoutSpec> = {}): LayoutSpec {
  return { name: 't', sectorSize: 512, alignment: '1MiB', diskSize: 'auto', partitions: parts, ...extra };
}

describe('built-in layouts', () => {
  it('flatcar matches the legacy sectors exactly', () => {
    const p = planLayout(BUILTIN_LAYOUTS.flatcar);
    expect(p.totalSectors).toBe(9289728);
    expect(p.partitions.map((x) => [x.number, x.label, x.startLba])).toEqual([
      [1, 'EFI-SYSTEM', 4096], [2, 'BIOS-BOOT', 266240], [3, 'USR-A', 270336], [4, 'USR-B', 2367488],
      [6, 'OEM', 4464640], [7, 'OEM-CONFIG', 4726784], [9, 'ROOT', 4857856],
    ]);
    expect(slotPartitions(p).A.sizeBytes).toBe(1024 ** 3);
  });
  it('mini keeps the partitions and slot UUIDs at small sizes', () => {
    const p = planLayout(mini);
    const s = slotPartitions(p);
    expect(s.A.uuid).toBe(USR_A_UUID);
    expect(s.B.uuid).toBe(USR_B_UUID);
    expect(s.A.sizeBytes).toBe(128 * 1024 ** 2);
    expect(p.partitions.find((x) => x.role === 'esp')!.sizeBytes).toBeGreaterThanOrEqual(64 * 1024 ** 2);
  });
  it('every built-in layout plans and gives a fresh image that boots A', () => {
    for (const spec of Object.values(BUILTIN_LAYOUTS)) {
      const plan = planLayout(spec);
      const t = planToTable(plan, 'seed');
      // A and B by the planner's own assignment (labels -A/-B, or by table order for versioned slots)
      const bySlot = Object.fromEntries(plan.partitions.filter((p) => p.slot).map((p) => [p.slot!, partitions(t).find((x) => x.number === p.number)!]));
      expect(getBootBits(bySlot.A.attributes)).toEqual({ priority: 1, tries: 0, successful: true });
      expect(getBootBits(bySlot.B.attributes)).toEqual({ priority: 0, tries: 0, successful: false });
    }
  });
  it('derives unfixed GUIDs from the seed, reproducibly', () => {
    const plan = planLayout(mini);
    const a = planToTable(plan, 'one');
    const b = planToTable(plan, 'one');
    const c = planToTable(plan, 'two');
    expect(a).toEqual(b);
    expect(a.diskGuid).not.toBe(c.diskGuid);
    expect(a.entries[0].uuid).not.toBe(c.entries[0].uuid);
    expect(a.entries[2].uuid).toBe(c.entries[2].uuid); // fixed by the layout
    expect(a.entries[0].uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe('layout validation', () => {
  const esp = { number: 1, label: 'ESP', type: 'efi', size: '8MiB' };
  it.each([
    ['overlap', withParts([esp, { number: 2, label: 'X', type: 'linux', size: '1MiB', start: 4096 }]), /overlaps partition 1/],
    ['misalignment', withParts([esp, { number: 2, label: 'X', type: 'linux', size: '1MiB', start: 30001 }]), /not aligned/],
    ['out of disk', withParts([esp, { number: 2, label: 'X', type: 'linux', size: '1GiB' }], { diskSize: '64MiB' }), /beyond the last usable sector/],
    ['duplicate number', withParts([esp, { ...esp, label: 'ESP2' }]), /duplicate partition number 1/],
    ['duplicate label', withParts([esp, { ...esp, number: 2 }]), /duplicate label ESP/],
    ['unknown type alias', withParts([{ ...esp, type: 'floppy' }]), /unknown partition type "floppy"/],
    ['unpaired slot', withParts([esp, { number: 3, label: 'USR-A', type: 'flatcar-usr', size: '8MiB', role: 'usr-slot' }]), /come in a pair/],
    ['slot sizes differ', withParts([esp, { number: 3, label: 'USR-A', type: 'flatcar-usr', size: '8MiB', role: 'usr-slot' }, { number: 4, label: 'USR-B', type: 'flatcar-usr', size: '16MiB', role: 'usr-slot' }]), /same size/],
    ['bad size', withParts([{ ...esp, size: 'lots' }]), /cannot parse size/],
    ['rest not last', withParts([{ ...esp, size: 'rest' }, { number: 2, label: 'X', type: 'linux', size: '1MiB' }], { diskSize: '64MiB' }), /only the last/],
    ['bad sector size', withParts([esp], { sectorSize: 1024 as 512 }), /sectorSize/],
  ])('rejects %s with a precise error', (_name, spec, re) => {
    expect(() => planLayout(spec)).toThrow(LayoutError);
    expect(() => planLayout(spec)).toThrow(re);
  });
  it('fills "rest" to the aligned end of a fixed disk', () => {
    const p = planLayout(withParts([esp, { number: 2, label: 'DATA', type: 'linux', size: 'rest' }], { diskSize: '64MiB' }));
    expect(p.partitions[1].endLba).toBeLessThanOrEqual(p.lastUsableLba);
    expect((p.partitions[1].endLba + 1) % p.alignmentSectors).toBe(0);
  });
  it('supports 4096-byte sectors', () => {
    const p = planLayout({ ...mini, sectorSize: 4096, alignment: '2MiB' });
    expect(p.firstUsableLba).toBe(6);
    expect(slotPartitions(p).A.sizeBytes).toBe(128 * 1024 ** 2);
  });
  it('parses sizes', () => {
    expect(parseBytes('128MiB')).toBe(128 * 1024 ** 2);
    expect(parseBytes('2G')).toBe(2 * 1024 ** 3);
    expect(parseBytes('1.5KiB')).toBe(1536);
    expect(parseBytes(4096)).toBe(4096);
  });
});
