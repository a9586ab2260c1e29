import { describe, expect, it } from 'vitest';
import { parseSelectorLog } from './selector-log.js';

describe('parseSelectorLog', () => {
  it('keeps every selector line in order and reads the choices, across a reset', () => {
    const log = [
      'BdsDxe: loading Boot0002 "UEFI Misc Device" from PciRoot(0x0)/Pci(0x2,0x0)',
      'imgbuild-select: slot=B partition=4 priority=2 tries=1->0 successful=0\r',
      '[    1.2] Kernel panic - not syncing: Attempted to kill init!',
      'imgbuild-select: slot=A partition=3 priority=1 tries=0 successful=1',
      'IMGBUILD-BOOT slot=A usrhash=ab version=1 health=ok',
    ].join('\n');
    const r = parseSelectorLog(log);
    expect(r.lines).toEqual(['slot=B partition=4 priority=2 tries=1->0 successful=0', 'slot=A partition=3 priority=1 tries=0 successful=1']);
    expect(r.choices).toEqual([
      { slot: 'B', partition: 4, priority: 2, triesBefore: 1, triesAfter: 0, successful: false },
      { slot: 'A', partition: 3, priority: 1, triesBefore: 0, triesAfter: 0, successful: true },
    ]);
  });

  it('keeps lines that are not choices without inventing one', () => {
    const r = parseSelectorLog('imgbuild-select: slot=B cannot boot: \\EFI\\Linux\\imgbuild-usr-b.efi: Not Found; tries -> 0\n');
    expect(r.lines).toHaveLength(1);
    expect(r.choices).toEqual([]);
    expect(parseSelectorLog('no selector here')).toEqual({ lines: [], choices: [] });
  });
});
