import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { CorruptError } from '../errors.js';
import { MemoryStorage, type Storage } from '../storage.js';
import { decodeGuid, encodeGuid } from '../guid.js';
import { canBoot, getBootBits, getFlag, parseAttributes, setBootBits, setFlag } from './attributes.js';
import { decodeEntry, encodeEntry, type GptEntry } from './entry.js';
import { decodeHeader, encodeHeader, type GptHeader } from './header.js';
import { readGpt, repairGpt, writeGpt } from './io.js';
import { decodeProtectiveMbr, encodeProtectiveMbr } from './mbr.js';
import { emptyTable, partitions, sameTable, type GptTable } from './table.js';

function sampleTable(sectorSize: number, totalSectors: number): GptTable {
  const t = emptyTable(sectorSize, totalSectors, '01234567-89ab-cdef-0123-456789abcdef');
  t.entries[0] = { type: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b', uuid: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee', firstLba: t.firstUsableLba + 10, lastLba: t.firstUsableLba + 99, attributes: 4n, name: 'EFI-SYSTEM' };
  t.entries[2] = { type: '5dfbf5f4-2848-4bac-aa5e-0d9a20b745a6', uuid: '7130c94a-213a-4e5a-8e26-6cce9662f132', firstLba: t.firstUsableLba + 100, lastLba: t.firstUsableLba + 199, attributes: setBootBits(0n, { priority: 2, tries: 1, successful: false }), name: 'USR-A ünïcødé' };
  return t;
}

describe('GUID codec', () => {
  it('uses mixed endianness as GPT does', () => {
    const b = encodeGuid('c12a7328-f81f-11d2-ba4b-00a0c93ec93b');
    expect(b.toString('hex')).toBe('28732ac11ff8d211ba4b00a0c93ec93b');
    expect(decodeGuid(b)).toBe('c12a7328-f81f-11d2-ba4b-00a0c93ec93b');
  });
  it('round-trips random GUIDs', () => {
    for (let i = 0; i < 200; i++) {
      const raw = randomBytes(16);
      expect(encodeGuid(decodeGuid(raw)).equals(raw)).toBe(true);
    }
  });
});

describe('attributes', () => {
  it('places the A/B bits at 48-51, 52-55 and 56', () => {
    const a = setBootBits(0n, { priority: 15, tries: 3, successful: true });
    expect(a).toBe((15n << 48n) | (3n << 52n) | (1n << 56n));
    expect(getBootBits(a)).toEqual({ priority: 15, tries: 3, successful: true });
  });
  it('leaves other bits alone and names the flags', () => {
    let a = setFlag(0n, 'readOnly', true);
    a = setFlag(a, 'noAuto', true);
    a = setBootBits(a, { priority: 1, tries: 0, successful: true });
    expect(getFlag(a, 'readOnly')).toBe(true);
    expect(getFlag(a, 'noAuto')).toBe(true);
    expect(a & (1n << 60n)).toBe(1n << 60n);
    expect(a & (1n << 63n)).toBe(1n << 63n);
    expect(getBootBits(setBootBits(a, { priority: 0, tries: 0, successful: false }))).toEqual({ priority: 0, tries: 0, successful: false });
    expect(getFlag(setBootBits(a, { priority: 0, tries: 0, successful: false }), 'readOnly')).toBe(true);
  });
  it('derives canBoot', () => {
    expect(canBoot({ priority: 1, tries: 0, successful: true })).toBe(true);
    expect(canBoot({ priority: 2, tries: 1, successful: false })).toBe(true);
    expect(canBoot({ priority: 2, tries: 0, successful: false })).toBe(false);
    expect(canBoot({ priority: 0, tries: 5, successful: true })).toBe(false);
  });
  it('range-checks and parses layout forms', () => {
    expect(() => setBootBits(0n, { priority: 16, tries: 0, successful: false })).toThrow(/priority/);
    expect(parseAttributes({ priority: 1, successful: true, readOnly: true })).toBe((1n << 48n) | (1n << 56n) | (1n << 60n));
    expect(parseAttributes('0x4')).toBe(4n);
    expect(() => parseAttributes({ bogus: 1 })).toThrow(/unknown attribute/);
  });
});

describe('header, entry and MBR codecs', () => {
  it('round-trips a header and rejects a bad CRC', () => {
    const h: GptHeader = { myLba: 1, alternateLba: 999, firstUsableLba: 34, lastUsableLba: 965, diskGuid: '01234567-89ab-cdef-0123-456789abcdef', entriesLba: 2, entryCount: 128, entrySize: 128, entriesCrc32: 0xdeadbeef };
    const b = encodeHeader(h, 512);
    expect(decodeHeader(b)).toEqual(h);
    b[30] ^= 1;
    expect(() => decodeHeader(b)).toThrow(/CRC32/);
  });
  it('round-trips entries with UTF-16 names and high attribute bits', () => {
    const e: GptEntry = { type: '5dfbf5f4-2848-4bac-aa5e-0d9a20b745a6', uuid: 'e03dd35c-7c2d-4a47-b3fe-27f15780a57c', firstLba: 2367488, lastLba: 4464639, attributes: (1n << 63n) | (1n << 56n), name: 'USR-B' };
    expect(decodeEntry(encodeEntry(e))).toEqual(e);
    expect(() => encodeEntry({ ...e, name: 'x'.repeat(37) })).toThrow(/36/);
    expect(decodeEntry(encodeEntry({ ...e, name: 'y'.repeat(36) })).name).toBe('y'.repeat(36));
  });
  it('writes a protective MBR covering the disk', () => {
    const m = encodeProtectiveMbr(782336, 512);
    expect(decodeProtectiveMbr(m)).toEqual({ startLba: 1, sizeLba: 782335 });
    expect(decodeProtectiveMbr(encodeProtectiveMbr(2 ** 40, 512)).sizeLba).toBe(0xffffffff);
  });
});

describe('table I/O', () => {
  for (const sectorSize of [512, 4096]) {
    it(`round-trips a whole table with ${sectorSize}-byte sectors`, async () => {
      const total = 4096;
      const s = new MemoryStorage(total * sectorSize);
      const t = sampleTable(sectorSize, total);
      await writeGpt(s, t, { protectiveMbr: true });
      const r = await readGpt(s);
      expect(r.source).toBe('primary');
      expect(r.needsRepair).toBe(false);
      expect(r.table.sectorSize).toBe(sectorSize);
      expect(sameTable(r.table, t)).toBe(true);
      expect(partitions(r.table).map((p) => [p.number, p.name])).toEqual([[1, 'EFI-SYSTEM'], [3, 'USR-A ünïcødé']]);
    });
  }

  it('reads the backup when the primary header is zeroed, and repairs it', async () => {
    const s = new MemoryStorage(4096 * 512);
    const t = sampleTable(512, 4096);
    await writeGpt(s, t, { protectiveMbr: true });
    s.buffer.fill(0, 512, 1024);
    const r = await readGpt(s);
    expect(r.source).toBe('backup');
    expect(r.primaryError).toMatch(/signature/);
    expect(sameTable(r.table, t)).toBe(true);
    const rep = await repairGpt(s);
    expect(rep.repaired).toBe(true);
    const again = await readGpt(s);
    expect(again.needsRepair).toBe(false);
    expect(again.source).toBe('primary');
  });

  it('reads the primary when the backup array is damaged', async () => {
    const s = new MemoryStorage(4096 * 512);
    await writeGpt(s, sampleTable(512, 4096), { protectiveMbr: true });
    s.buffer[(4096 - 33) * 512 + 5] ^= 0xff;
    const r = await readGpt(s);
    expect(r.source).toBe('primary');
    expect(r.backupError).toMatch(/entry array: CRC32/);
    expect(r.needsRepair).toBe(true);
  });

  it('fails clearly when both copies are damaged', async () => {
    const s = new MemoryStorage(4096 * 512);
    await writeGpt(s, sampleTable(512, 4096), { protectiveMbr: true });
    s.buffer.fill(0, 512, 1024);
    s.buffer.fill(0, (4096 - 1) * 512);
    await expect(readGpt(s)).rejects.toThrow(CorruptError);
    await expect(readGpt(s)).rejects.toThrow(/no valid GPT/);
  });

  it('refuses overlapping partitions on write and on read', async () => {
    const t = sampleTable(512, 4096);
    t.entries[3] = { ...t.entries[2], uuid: '11111111-2222-4333-8444-555555555555', firstLba: t.entries[2].lastLba };
    await expect(writeGpt(new MemoryStorage(4096 * 512), t)).rejects.toThrow(/overlap/);
  });

  it('writes backup before primary, syncing after each region', async () => {
    const log: string[] = [];
    const inner = new MemoryStorage(4096 * 512);
    const spy: Storage = {
      size: inner.size,
      readAt: (o, l) => inner.readAt(o, l),
      writeAt: async (o, d) => {
        log.push(`write@${o / 512}`);
        await inner.writeAt(o, d);
      },
      sync: async () => {
        log.push('sync');
      },
    };
    await writeGpt(spy, sampleTable(512, 4096));
    expect(log).toEqual(['write@4063', 'sync', 'write@4095', 'sync', 'write@2', 'sync', 'write@1', 'sync']);
  });
});

describe('decoder fuzz', () => {
  // A tiny deterministic PRNG so a failure can be replayed.
  function prng(seed: number) {
    return () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  }

  it('never crashes or hangs on random or mutated bytes', async () => {
    const rnd = prng(42);
    const base = new MemoryStorage(256 * 512);
    const t = emptyTable(512, 256, '01234567-89ab-cdef-0123-456789abcdef');
    t.entries[0] = { type: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b', uuid: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee', firstLba: 40, lastLba: 100, attributes: 0n, name: 'X' };
    await writeGpt(base, t, { protectiveMbr: true });
    let ok = 0;
    let corrupt = 0;
    for (let i = 0; i < 1500; i++) {
      const buf = Buffer.from(base.buffer);
      if (i % 10 === 0) randomBytes(buf.length).copy(buf);
      else {
        const flips = 1 + Math.floor(rnd() * 8);
        for (let f = 0; f < flips; f++) {
          // Mostly hit the headers and arrays, where the parser lives.
          const region = rnd();
          const off = region < 0.4 ? 512 + Math.floor(rnd() * 92) : region < 0.7 ? 1024 + Math.floor(rnd() * 256) : Math.floor(rnd() * buf.length);
          buf[off] = Math.floor(rnd() * 256);
        }
      }
      try {
        const r = await readGpt(new MemoryStorage(buf));
        expect(r.table.entries.length).toBe(r.table.entryCount);
        ok++;
      } catch (e) {
        expect(e).toBeInstanceOf(CorruptError);
        corrupt++;
      }
    }
    expect(ok).toBeGreaterThan(0);
    expect(corrupt).toBeGreaterThan(0);
  });
});
