/**
 * Crash safety of slot transitions. A Storage wrapper lets k writes land (k = 0..4: backup array,
 * backup header, primary array, primary header) and then fails, as a power cut would, either cleanly
 * between writes or in the middle of the next one (half of its bytes land). Afterwards the image must
 * read — through repairGpt when needed — as exactly the old or exactly the new slot state, and the
 * real cgpt must read the same bits. A real image file sits under the wrapper so cgpt can read it.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { createGptImage } from '../packages/core/src/layout/gpt-image.js';
import { getBootBits } from '../packages/core/src/gpt/attributes.js';
import { readGpt, repairGpt } from '../packages/core/src/gpt/io.js';
import { sameTable, type GptTable } from '../packages/core/src/gpt/table.js';
import { FileStorage, type Storage } from '../packages/core/src/storage.js';
import { applySlotTransition, cancelUpgrade, markSuccessful, next, rollback, setSlotBits, upgrade } from '../packages/core/src/slot/index.js';
import { tempDir } from './helpers.js';

const dir = tempDir('imgbuild-slot-crash-');

class PowerCut extends Error {}

/** Lets `allowed` writes through, then fails: on the next write (optionally writing half of it) or sync. */
class FaultStorage implements Storage {
  writes = 0;
  constructor(
    private readonly inner: Storage,
    private readonly allowed: number,
    private readonly torn: boolean,
  ) {}
  get size(): number {
    return this.inner.size;
  }
  readAt(offset: number, length: number): Promise<Buffer> {
    return this.inner.readAt(offset, length);
  }
  async writeAt(offset: number, data: Uint8Array): Promise<void> {
    if (this.writes >= this.allowed) {
      if (this.torn) await this.inner.writeAt(offset, data.subarray(0, Math.floor(data.length / 2)));
      throw new PowerCut(`power cut at write ${this.writes + 1}${this.torn ? ' (half written)' : ''}`);
    }
    await this.inner.writeAt(offset, data);
    this.writes++;
  }
  async sync(): Promise<void> {
    if (this.writes >= this.allowed) throw new PowerCut(`power cut after write ${this.writes}`);
    await this.inner.sync();
  }
}

async function cgptBits(image: string, n: number) {
  const q = async (flag: string) => Number((await execa('cgpt', ['show', '-i', String(n), flag, image])).stdout.trim());
  return { priority: await q('-P'), tries: await q('-T'), successful: (await q('-S')) === 1 };
}

async function withFile<T>(image: string, writable: boolean, fn: (s: FileStorage) => Promise<T>): Promise<T> {
  const s = await FileStorage.open(image, writable);
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

type Fn = (t: GptTable) => GptTable;
/** Each case: transitions that set the scene (applied normally), then the one that gets interrupted. */
const CASES: [string, Fn[], Fn][] = [
  ['upgrade B', [], (t) => upgrade(t, 'B')],
  ['next (uses the try)', [(t) => upgrade(t, 'B')], (t) => next(t).table],
  ['mark-successful B', [(t) => upgrade(t, 'B'), (t) => next(t).table], (t) => markSuccessful(t, 'B')],
  ['rollback', [(t) => upgrade(t, 'B'), (t) => next(t).table, (t) => markSuccessful(t, 'B')], (t) => rollback(t)],
  ['cancel-upgrade', [(t) => upgrade(t, 'B')], (t) => cancelUpgrade(t)],
  ['set A', [], (t) => setSlotBits(t, 'A', { priority: 15, tries: 15, successful: false })],
];

describe('an interrupted slot transition leaves exactly the old or the new state', () => {
  let caseNo = 0;
  for (const [name, setup, fn] of CASES) {
    for (const torn of [false, true]) {
      for (let k = 0; k <= 4; k++) {
        if (torn && k === 4) continue; // there is no fifth write to tear
        it(`${name}: power cut after ${k} write(s)${torn ? ', the next one torn' : ''}`, async () => {
          const image = join(dir, `crash-${caseNo++}.img`);
          await createGptImage({ layout: 'mini', output: image, seed: 'crash' });
          for (const f of setup) await applySlotTransition(image, f);
          const old = await withFile(image, false, async (s) => (await readGpt(s)).table);
          const want = fn(old);
          expect(sameTable(old, want)).toBe(false);

          await withFile(image, true, async (s) => {
            const fault = new FaultStorage(s, k, torn);
            await expect(applySlotTransition(fault, fn)).rejects.toBeInstanceOf(PowerCut);
            expect(fault.writes).toBe(k);
          });

          const read = await withFile(image, false, (s) => readGpt(s));
          const isOld = sameTable(read.table, old);
          const isNew = sameTable(read.table, want);
          expect(isOld || isNew).toBe(true);
          // complete writes: the new state exists once the primary array has landed (the primary copy
          // is then invalid and the backup, already new, is read)
          if (!torn) expect(isNew).toBe(k >= 3);
          // a clean cut before the first write or after the last leaves nothing to repair
          if (!torn) expect(read.needsRepair).toBe(k > 0 && k < 4);

          if (read.needsRepair) await withFile(image, true, (s) => repairGpt(s));
          const after = await withFile(image, false, (s) => readGpt(s));
          expect(after.needsRepair).toBe(false);
          expect(sameTable(after.table, read.table)).toBe(true);
          for (const n of [3, 4]) {
            const b = getBootBits(after.table.entries[n - 1].attributes);
            expect(await cgptBits(image, n), `partition ${n}`).toEqual(b);
          }
          // cgpt's verdict on the GPT as a whole: both copies valid (it warns and marks INVALID otherwise)
          const v = await execa('cgpt', ['show', '-v', image], { reject: false });
          expect(v.exitCode).toBe(0);
          expect(v.stdout + v.stderr).not.toMatch(/INVALID|WARNING/);
        });
      }
    }
  }
});
