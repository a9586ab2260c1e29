import { describe, expect, it } from 'vitest';
import { ddiGeometry, ddiPartitionUuids, ddiTable } from './ddi.js';

describe('sysext DDI', () => {
  it('takes the partition UUIDs from the root hash as systemd-repart does: bytes in order, no version bits', () => {
    const rootHash = '00112233445566778899aabbccddeeff0123456789abcdeffedcba9876543210';
    expect(ddiPartitionUuids(rootHash)).toEqual({ data: '00112233-4455-6677-8899-aabbccddeeff', verity: '01234567-89ab-cdef-fedc-ba9876543210' });
  });

  it('places the data partition at 1 MiB and its verity partition right after it, everything on 4 KiB', () => {
    const g = ddiGeometry(10 * 4096 + 1);
    expect(g.dataOffset).toBe(1 << 20);
    expect(g.dataBytes).toBe(11 * 4096);
    expect(g.dataBlocks).toBe(11);
    expect(g.verityOffset).toBe(g.dataOffset + g.dataBytes);
    expect(g.verityBytes).toBe(2 * 4096); // the superblock's block and one leaf block
    expect(g.diskBytes % 4096).toBe(0);
    expect(g.diskBytes).toBeGreaterThanOrEqual(g.verityOffset + g.verityBytes + 33 * 512);
  });

  it('marks both partitions read-only and labels them as systemd-repart does', () => {
    const g = ddiGeometry(4096);
    const { table, partitions } = ddiTable(g, 'x86-64', 'ab'.repeat(32), '11111111-2222-4333-8444-555555555555');
    expect(partitions.map((p) => p.label)).toEqual(['root-x86-64', 'root-x86-64-verity']);
    expect(table.entries[0].attributes).toBe(1n << 60n);
    expect(table.entries[1].attributes).toBe(1n << 60n);
    expect(table.entries[0].firstLba).toBe(2048);
    expect(table.entries[1].firstLba).toBe(table.entries[0].lastLba + 1);
  });
});
