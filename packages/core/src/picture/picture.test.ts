import { describe, expect, it } from 'vitest';
import { diskBar } from './bar.js';
import { shares, slotMarkText, type DiskPicture } from './disk.js';

const pic: DiskPicture = {
  title: 'disk',
  sectorSize: 512,
  totalSectors: 4_000_000,
  parts: [
    { number: 1, label: 'EFI-SYSTEM', role: 'esp', firstLba: 2048, lastLba: 133119 },
    { number: 2, label: 'BIOS-BOOT', role: null, firstLba: 133120, lastLba: 137215 },
    { number: 3, label: 'USR-A', role: 'usr-slot', firstLba: 137216, lastLba: 2_000_000, mark: { slot: 'A', priority: 1, tries: 0, successful: true, canBoot: true, next: false } },
    { number: 4, label: 'USR-B', role: 'usr-slot', firstLba: 2_000_001, lastLba: 3_900_000, mark: { slot: 'B', priority: 2, tries: 1, successful: false, canBoot: true, next: true } },
  ],
};

describe('disk picture', () => {
  it('shares cells in proportion, every partition at least the minimum, the total exact', () => {
    expect(shares([1, 1000, 1000], 21)).toEqual([1, 10, 10]);
    expect(shares([1, 1, 998], 10, 2)).toEqual([2, 2, 6]);
    expect(shares([3, 3, 3], 10).reduce((a, b) => a + b)).toBe(10);
  });

  it('marks the slots: good, on trial with its tries, cannot boot, boots next', () => {
    expect(slotMarkText(pic.parts[2].mark!)).toBe('A●');
    expect(slotMarkText(pic.parts[3].mark!)).toBe('▸B○ tries 1');
    expect(slotMarkText({ slot: 'B', priority: 0, tries: 0, successful: false, canBoot: false, next: false })).toBe('B✗');
  });

  it('draws one line of the asked width, colour only when asked', () => {
    const [title, bar, legend] = diskBar(pic, { width: 60 });
    expect(title).toMatch(/^disk: /);
    expect([...bar].length).toBe(60);
    // the ESP is too narrow for its label here: its number stands in
    expect(bar).toMatch(/^\|1 *\|2\|USR-A A● *\|USR-B ▸B○ tries 1 *\|$/);
    expect(legend).toContain('boots next');
    expect(bar).not.toContain('\x1b[');
    expect(diskBar(pic, { width: 60, colour: true })[1]).toContain('\x1b[30;44m');
  });
});
