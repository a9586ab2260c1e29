import { describe, expect, it } from 'vitest';
import { parseSelectorLog } from './selector-log.js';

describe('parseSelectorLog', () => {
  it('keeps every selector line in order and reads the choices, across a reset', () => {
    const log = [
      'BdsDxe: loading Boot0002 "UEFI Misc Device" from PciRoot(0x0)/Pci(0x2,0x0)',
      'imgbuild-select: slot=B partition=4 priority=2 tries=1->0 successful=0 attempts=0->1\r',
      '[    1.2] Kernel panic - not syncing: Attempted to kill init!',
      'imgbuild-select: slot=A partition=3 priority=1 tries=0 successful=1',
      'IMGBUILD-BOOT slot=A usrhash=ab version=1 health=ok',
    ].join('\n');
    const r = parseSelectorLog(log);
    expect(r.lines).toEqual(['slot=B partition=4 priority=2 tries=1->0 successful=0 attempts=0->1', 'slot=A partition=3 priority=1 tries=0 successful=1']);
    expect(r.choices).toEqual([
      { slot: 'B', partition: 4, priority: 2, triesBefore: 1, triesAfter: 0, successful: false, attemptsBefore: 0, attemptsAfter: 1 },
      // a selector from before attempt counting
      { slot: 'A', partition: 3, priority: 1, triesBefore: 0, triesAfter: 0, successful: true, attemptsBefore: null, attemptsAfter: null },
    ]);
  });

  it('reads a demoted slot started as the least bad', () => {
    const r = parseSelectorLog('imgbuild-select: slot=A partition=3 priority=2 tries=0 successful=1 attempts=demoted\n');
    expect(r.choices[0]).toMatchObject({ slot: 'A', attemptsBefore: 7, attemptsAfter: 7 });
  });

  it('keeps lines that are not choices without inventing one', () => {
    const r = parseSelectorLog('imgbuild-select: slot=B cannot boot: \\EFI\\Linux\\imgbuild-usr-b.efi: Not Found; tries -> 0\n');
    expect(r.lines).toHaveLength(1);
    expect(r.choices).toEqual([]);
    expect(parseSelectorLog('no selector here')).toEqual({ lines: [], choices: [] });
  });
});
