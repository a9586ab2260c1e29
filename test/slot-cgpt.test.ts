/**
 * The slot state machine judged by the real cgpt (ChromeOS vboot_reference):
 *  - after each of our operations on a real image, `cgpt show -i N -P/-T/-S` reads the same bits;
 *  - from seeded random states, our prioritize gives exactly the attributes `cgpt prioritize -i N`
 *    writes. cgpt only prioritizes ChromeOS kernel partitions, so the comparison images type their
 *    members chromeos-kernel; some states have 3 to 17 of them to exercise grouping and the 15 cap.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { createGptImage } from '../packages/core/src/layout/gpt-image.js';
import { SlotError } from '../packages/core/src/errors.js';
import { getBootBits, setBootBits } from '../packages/core/src/gpt/attributes.js';
import { readGpt, writeGpt } from '../packages/core/src/gpt/io.js';
import { cloneTable, emptyTable, type GptTable } from '../packages/core/src/gpt/table.js';
import { TYPE_ALIASES } from '../packages/core/src/gpt/types.js';
import { FileStorage } from '../packages/core/src/storage.js';
import {
  applySlotTransition,
  cancelUpgrade,
  markSuccessful,
  next,
  prioritize,
  prioritizePartitions,
  rollback,
  setSlotBits,
  slotStatus,
  upgrade,
  type Slot,
} from '../packages/core/src/slot/index.js';
import { tempDir } from './helpers.js';

interface Bits {
  priority: number;
  tries: number;
  successful: boolean;
}

/** `cgpt show -i N -P/-T/-S image`: what the reference tool reads for partition N. */
async function cgptBits(image: string, n: number): Promise<Bits> {
  const q = async (flag: string) => {
    const r = await execa('cgpt', ['show', '-i', String(n), flag, image]);
    const v = r.stdout.trim();
    if (!/^\d+$/.test(v)) throw new Error(`cgpt show -i ${n} ${flag} ${image} printed ${JSON.stringify(r.stdout)} ${r.stderr}`);
    return Number(v);
  };
  return { priority: await q('-P'), tries: await q('-T'), successful: (await q('-S')) === 1 };
}

const tableBits = (t: GptTable, n: number): Bits => getBootBits(t.entries[n - 1].attributes);

/** Deterministic PRNG (mulberry32): random states are reproducible from their seed. */
function rng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n: number) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

const dir = tempDir('imgbuild-slot-cgpt-');
const KERNEL = TYPE_ALIASES['chromeos-kernel'];
const USR = TYPE_ALIASES['flatcar-usr'];
const DATA = TYPE_ALIASES['linux-data'];

async function readTable(image: string): Promise<GptTable> {
  const s = await FileStorage.open(image);
  try {
    const r = await readGpt(s);
    expect(r.needsRepair).toBe(false);
    return r.table;
  } finally {
    await s.close();
  }
}

async function writeTable(image: string, t: GptTable): Promise<void> {
  const s = await FileStorage.open(image, true);
  try {
    await writeGpt(s, t, { protectiveMbr: true });
  } finally {
    await s.close();
  }
}

describe('cgpt reads what our slot operations write', () => {
  it('agrees after every step of a seeded random walk of transitions', async () => {
    const image = join(dir, 'walk.img');
    await createGptImage({ layout: 'mini', output: image, seed: 'walk' });
    const rand = rng(20261124);
    const slot = (): Slot => (rand(2) ? 'B' : 'A');
    const steps: [string, (t: GptTable) => GptTable][] = [
      ['upgrade', (t) => upgrade(t, slot())],
      ['next', (t) => next(t).table],
      ['next-chromeos', (t) => next(t, { variant: 'chromeos' }).table],
      ['markSuccessful', (t) => markSuccessful(t, slot())],
      ['prioritize', (t) => prioritize(t, slot())],
      ['rollback', (t) => rollback(t)],
      ['cancelUpgrade', (t) => cancelUpgrade(t)],
      ['set', (t) => setSlotBits(t, slot(), { priority: rand(16), tries: rand(16), successful: rand(2) === 1 })],
    ];
    let applied = 0;
    for (let i = 0; i < 40; i++) {
      const [name, fn] = steps[rand(steps.length)];
      try {
        const r = await applySlotTransition(image, fn);
        applied++;
        for (const s of r.after.slots) {
          expect(await cgptBits(image, s.number), `${name} (step ${i}) slot ${s.slot}`).toEqual({ priority: s.priority, tries: s.tries, successful: s.successful });
        }
      } catch (e) {
        if (!(e instanceof SlotError)) throw e; // a refused transition writes nothing
      }
      const t = await readTable(image);
      for (const n of [3, 4]) expect(await cgptBits(image, n)).toEqual(tableBits(t, n));
    }
    expect(applied).toBeGreaterThan(20);
  });
});

describe('we read what cgpt writes', () => {
  it('cgpt add -P/-T/-S on the slots: our status and next agree', async () => {
    const image = join(dir, 'cgpt-add.img');
    await createGptImage({ layout: 'mini', output: image, seed: 'cgpt-add' });
    const rand = rng(5);
    for (let i = 0; i < 20; i++) {
      const want: Record<number, Bits> = {};
      for (const n of [3, 4]) {
        want[n] = { priority: rand(16), tries: rand(16), successful: rand(2) === 1 };
        await execa('cgpt', ['add', '-i', String(n), '-P', String(want[n].priority), '-T', String(want[n].tries), '-S', want[n].successful ? '1' : '0', image]);
      }
      const t = await readTable(image);
      const st = slotStatus(t);
      for (const s of st.slots) expect({ priority: s.priority, tries: s.tries, successful: s.successful }).toEqual(want[s.number]);
      const bootable = (b: Bits) => b.priority > 0 && (b.tries > 0 || b.successful);
      const expected = [3, 4].filter((n) => bootable(want[n])).sort((x, y) => want[y].priority - want[x].priority || x - y)[0];
      expect(st.next).toBe(expected === 3 ? 'A' : expected === 4 ? 'B' : null);
    }
  });
  it('the real cgpt prioritize refuses our /usr-typed slots (it acts on ChromeOS kernels only)', async () => {
    const image = join(dir, 'cgpt-refuses.img');
    await createGptImage({ layout: 'mini', output: image, seed: 'cgpt-refuses' });
    const r = await execa('cgpt', ['prioritize', '-i', '4', image], { reject: false });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/not a ChromeOS kernel/);
  });
});

interface State {
  table: GptTable;
  kernels: number[];
  chosen: number;
  /** The two-slot states label their kernels USR-A / USR-B and go through `prioritize(table, slot)`. */
  twoSlot: boolean;
}

/** A random comparison state: kernel partitions (and some data partitions) with random boot bits. */
function randomState(seed: number): State {
  const rand = rng(seed);
  const totalSectors = 16384; // 8 MiB
  const t = emptyTable(512, totalSectors, '00000000-0000-4000-8000-00000000c9a7');
  const kind = seed % 5; // 0,1: two slots; 2,3: 3-6 kernels; 4: 16-17 kernels with many distinct priorities
  const count = kind <= 1 ? 2 : kind <= 3 ? 3 + rand(4) : 16 + rand(2);
  const kernels: number[] = [];
  // for the big states: every priority 0-15 once (plus a duplicate), shuffled, so there are 15-16 groups
  const spread = [...Array.from({ length: 16 }, (_, i) => i), rand(16)];
  for (let i = spread.length - 1; i > 0; i--) {
    const j = rand(i + 1);
    [spread[i], spread[j]] = [spread[j], spread[i]];
  }
  let lba = t.firstUsableLba + 30;
  let number = 1;
  const uuid = (n: number) => `11111111-2222-4333-8444-${String(seed).padStart(6, '0')}${String(n).padStart(6, '0')}`;
  for (let k = 0; k < count; k++) {
    if (rand(3) === 0) {
      // a non-kernel partition with boot-looking bits in between: cgpt must leave it alone, so must we
      t.entries[number - 1] = { type: DATA, uuid: uuid(number), firstLba: lba, lastLba: lba + 63, name: `DATA-${number}`, attributes: setBootBits(0n, { priority: rand(16), tries: rand(16), successful: rand(2) === 1 }) };
      number++;
      lba += 64;
    }
    const priority = kind === 4 ? spread[k] : rand(3) === 0 ? 0 : rand(4) === 0 ? 15 : rand(16);
    const other = rand(8) === 0 ? 1n << 60n : 0n; // an unrelated attribute bit to keep
    t.entries[number - 1] = {
      type: KERNEL,
      uuid: uuid(number),
      firstLba: lba,
      lastLba: lba + 63,
      name: count === 2 ? `USR-${k === 0 ? 'A' : 'B'}` : `KERN-${k}`,
      attributes: setBootBits(other, { priority, tries: rand(16), successful: rand(2) === 1 }),
    };
    kernels.push(number);
    number++;
    lba += 64;
  }
  return { table: t, kernels, chosen: kernels[rand(kernels.length)], twoSlot: count === 2 };
}

/** Our answer: the slot-level prioritize for two slots (retyped to /usr), the general form otherwise. */
function ours(s: State): GptTable {
  if (!s.twoSlot) return prioritizePartitions(s.table, s.kernels, s.chosen);
  const usr = cloneTable(s.table);
  for (const n of s.kernels) usr.entries[n - 1].type = USR;
  const slot: Slot = s.chosen === s.kernels[0] ? 'A' : 'B';
  const out = prioritize(usr, slot, { force: true }); // cgpt's raw prioritize: no guards
  for (const n of s.kernels) out.entries[n - 1].type = KERNEL;
  return out;
}

describe('prioritize matches cgpt prioritize -i N', () => {
  it('on 80 seeded random states (2 slots, 3-6 kernels, 16-17 kernels)', async () => {
    const image = join(dir, 'prio.img');
    await execa('truncate', ['-s', String(16384 * 512), image]);
    let capped = 0;
    for (let seed = 1; seed <= 80; seed++) {
      const s = randomState(seed);
      await writeTable(image, s.table);
      await execa('cgpt', ['prioritize', '-i', String(s.chosen), image]);
      const theirs = await readTable(image);
      const mine = ours(s);
      const describeState = `seed ${seed}: kernels ${s.kernels.join(',')} chosen ${s.chosen}, priorities ${s.kernels.map((n) => tableBits(s.table, n).priority).join(',')}`;
      const attrs = (t: GptTable) => t.entries.map((e) => '0x' + e.attributes.toString(16));
      expect(attrs(mine), describeState).toEqual(attrs(theirs));
      if (tableBits(theirs, s.chosen).priority === 15) capped++;
    }
    expect(capped).toBeGreaterThan(0); // the 15-priority cap was exercised
  });
});
