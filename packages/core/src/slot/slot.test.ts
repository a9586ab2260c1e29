import { describe, expect, it } from 'vitest';
import { SlotError, UsageError } from '../errors.js';
import { getBootBits, setBootBits, type BootBits } from '../gpt/attributes.js';
import { cloneTable, type GptTable } from '../gpt/table.js';
import { TYPE_ALIASES } from '../gpt/types.js';
import { BUILTIN_LAYOUTS } from '../layout/builtin.js';
import { planLayout, planToTable } from '../layout/plan.js';
import { MemoryStorage } from '../storage.js';
import { readGpt, writeGpt } from '../gpt/io.js';
import { cgptPrioritize } from './prioritize.js';
import { activeSlot, findSlots, inactiveSlot, otherSlot, resolveSlot, slotStatus } from './state.js';
import { cancelUpgrade, markSuccessful, next, prioritize, prioritizePartitions, rollback, setSlotBits, upgrade } from './transitions.js';
import { applySlotTransition, readSlotStatus } from './image.js';

const plan = planLayout(BUILTIN_LAYOUTS.mini);
const fresh = (): GptTable => planToTable(plan, 'slot-tests');

type Bits = [priority: number, tries: number, successful: 0 | 1];
const toBits = ([priority, tries, s]: Bits): BootBits => ({ priority, tries, successful: s === 1 });

/** The mini table with slot A (partition 3) and B (partition 4) bits set. */
function table(a: Bits, b: Bits): GptTable {
  const t = fresh();
  t.entries[2].attributes = setBootBits(t.entries[2].attributes, toBits(a));
  t.entries[3].attributes = setBootBits(t.entries[3].attributes, toBits(b));
  return t;
}

function bits(t: GptTable): { A: Bits; B: Bits } {
  const get = (i: number): Bits => {
    const b = getBootBits(t.entries[i].attributes);
    return [b.priority, b.tries, b.successful ? 1 : 0];
  };
  return { A: get(2), B: get(3) };
}

function expectSlotError(fn: () => unknown, ...parts: (string | RegExp)[]): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(SlotError);
  for (const p of parts) expect((err as Error).message).toMatch(p);
}

describe('cgptPrioritize (pure)', () => {
  it('two slots: chosen 2, other 1; other at 0 stays 0 and chosen gets 1', () => {
    expect(cgptPrioritize([1, 0], 1)).toEqual([1, 2]);
    expect(cgptPrioritize([1, 1], 1)).toEqual([1, 2]);
    expect(cgptPrioritize([5, 9], 0)).toEqual([2, 1]);
    expect(cgptPrioritize([1, 0], 0)).toEqual([1, 0]);
    expect(cgptPrioritize([0, 0], 1)).toEqual([0, 1]);
    expect(cgptPrioritize([0], 0)).toEqual([1]);
  });
  it('groups by priority, keeps the order of the others, renumbers from the number of groups', () => {
    // groups: chosen, {7,7}, {3}, {0 trailing}
    expect(cgptPrioritize([7, 3, 7, 0, 2], 4)).toEqual([2, 1, 2, 0, 3]);
    expect(cgptPrioritize([15, 15, 15], 2)).toEqual([1, 1, 2]);
    // the chosen partition leaves its group; an emptied group disappears
    expect(cgptPrioritize([9, 4, 1], 1)).toEqual([2, 3, 1]);
  });
  it('caps at 15 and never numbers below 1', () => {
    const prios = Array.from({ length: 16 }, (_, i) => i); // 0..15: 15 non-zero groups + the chosen one
    const out = cgptPrioritize(prios, 0);
    expect(out[0]).toBe(15); // chosen (was 0) on top
    expect(out[15]).toBe(14);
    expect(out[2]).toBe(1);
    expect(out[1]).toBe(1); // 16 groups: the two lowest share 1
    const withZero = cgptPrioritize([...prios, 0], 5);
    expect(withZero[16]).toBe(0);
    expect(withZero[0]).toBe(0); // the trailing 0 group stays 0
    expect(Math.min(...withZero.filter((_, i) => i !== 0 && i !== 16))).toBe(1);
  });
  it('honours a highest priority like cgpt -P', () => {
    expect(cgptPrioritize([3, 2, 1], 2, 9)).toEqual([8, 7, 9]);
    expect(cgptPrioritize([3, 2, 1], 2, 1)).toEqual([1, 1, 1]);
    expect(() => cgptPrioritize([1], 0, 16)).toThrow(UsageError);
  });
  it('rejects bad input', () => {
    expect(() => cgptPrioritize([1, 2], 2)).toThrow(RangeError);
    expect(() => cgptPrioritize([16], 0)).toThrow(RangeError);
  });
});

describe('slot discovery and naming', () => {
  it('finds USR-A and USR-B in table order', () => {
    const s = findSlots(fresh());
    expect(s.map((x) => [x.slot, x.number, x.label])).toEqual([
      ['A', 3, 'USR-A'],
      ['B', 4, 'USR-B'],
    ]);
  });
  it('accepts usr-x86-64 typed slots and rejects tables without both slots', () => {
    const t = fresh();
    t.entries[2].type = TYPE_ALIASES['usr-x86-64'];
    t.entries[3].type = TYPE_ALIASES['usr-x86-64'];
    expect(findSlots(t)).toHaveLength(2);
    t.entries[3].type = TYPE_ALIASES['linux-data'];
    expectSlotError(() => slotStatus(t), 'no slot B');
    const dup = fresh();
    dup.entries[3].name = 'USR-A';
    expectSlotError(() => slotStatus(dup), 'two partitions are slot A');
  });
  it('resolves A, b, USR-A, usr-b and partition numbers; UsageError otherwise', () => {
    const t = fresh();
    expect(resolveSlot(t, 'A')).toBe('A');
    expect(resolveSlot(t, 'b')).toBe('B');
    expect(resolveSlot(t, 'USR-A')).toBe('A');
    expect(resolveSlot(t, 'usr-b')).toBe('B');
    expect(resolveSlot(t, '3')).toBe('A');
    expect(resolveSlot(t, '4')).toBe('B');
    for (const bad of ['C', '1', '5', 'USR-C', '', 'AB']) expect(() => resolveSlot(t, bad)).toThrow(UsageError);
    expect(otherSlot('A')).toBe('B');
    expect(otherSlot('B')).toBe('A');
  });
});

describe('slotStatus', () => {
  it('reports the fresh image: A boots, B cannot', () => {
    const st = slotStatus(fresh());
    expect(st.next).toBe('A');
    expect(st.slots[0]).toMatchObject({ slot: 'A', priority: 1, tries: 0, successful: true, canBoot: true });
    expect(st.slots[1]).toMatchObject({ slot: 'B', priority: 0, tries: 0, successful: false, canBoot: false });
  });
  it('canBoot = (tries > 0 || successful) && priority > 0', () => {
    const cases: [Bits, boolean][] = [
      [[0, 0, 0], false],
      [[0, 5, 1], false],
      [[3, 0, 0], false],
      [[3, 1, 0], true],
      [[3, 0, 1], true],
      [[15, 15, 1], true],
    ];
    for (const [b, can] of cases) expect(slotStatus(table([0, 0, 0], b)).slots[1].canBoot).toBe(can);
  });
  it('does not change the table', () => {
    const t = table([2, 3, 0], [1, 0, 1]);
    const copy = cloneTable(t);
    slotStatus(t);
    expect(t).toEqual(copy);
  });
});

describe('next (Flatcar gptprio.next)', () => {
  it('picks the highest-priority bootable slot and decrements its tries', () => {
    const r = next(table([1, 0, 1], [2, 1, 0]));
    expect(r.slot).toBe('B');
    expect(r.number).toBe(4);
    expect(r.changed).toBe(true);
    expect(bits(r.table)).toEqual({ A: [1, 0, 1], B: [2, 0, 0] });
    // the unmarked slot is skipped on the following boot (priority kept) and A boots; only A's
    // attempt is counted (slot/attempts.ts)
    const r2 = next(r.table);
    expect(r2.slot).toBe('A');
    expect(r2.changed).toBe(true);
    expect(bits(r2.table)).toEqual({ A: [1, 0, 1], B: [2, 0, 0] });
    expect(findSlots(r2.table).map((x) => x.attempts)).toEqual([1, 1]);
  });
  it('breaks a priority tie by the lower partition number', () => {
    expect(next(table([2, 0, 1], [2, 0, 1])).slot).toBe('A');
    const swapped = table([2, 0, 1], [2, 0, 1]);
    // move B before A in the table: B now wins the tie
    const [a, b] = [swapped.entries[2], swapped.entries[3]];
    swapped.entries[2] = { ...b, firstLba: a.firstLba, lastLba: a.lastLba };
    swapped.entries[3] = { ...a, firstLba: b.firstLba, lastLba: b.lastLba };
    expect(next(swapped).slot).toBe('B');
  });
  it('decrements tries even on a successful slot, and down to 0 only', () => {
    expect(bits(next(table([1, 3, 1], [0, 0, 0])).table).A).toEqual([1, 2, 1]);
    expect(bits(next(table([15, 15, 0], [0, 0, 0])).table).A).toEqual([15, 14, 0]);
  });
  it('starts the least bad slot when no slot can boot (the selector never powers off); ChromeOS rules return null', () => {
    for (const [a, b, least] of [
      [[0, 0, 0], [0, 0, 0], 'A'], // nothing to prefer: the lower number
      [[0, 5, 1], [3, 0, 0], 'B'], // a priority first
    ] as [Bits, Bits, string][]) {
      const t = table(a, b);
      expect(next(t)).toMatchObject({ slot: least, pick: 'least-bad', changed: true });
      const r = next(t, { variant: 'chromeos' });
      expect(r).toMatchObject({ slot: null, number: null, changed: false });
      expect(r.table).toEqual(t);
      expect(r.table).not.toBe(t);
    }
  });
  it('does not mutate its input', () => {
    const t = table([1, 0, 1], [2, 1, 0]);
    const copy = cloneTable(t);
    next(t);
    expect(t).toEqual(copy);
  });
  it('slotStatus.next agrees with what next() picks', () => {
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let i = 0; i < 300; i++) {
      const t = table([rnd(16), rnd(16), rnd(2) as 0 | 1], [rnd(16), rnd(16), rnd(2) as 0 | 1]);
      const r = next(t);
      expect(slotStatus(t).next).toBe(r.pick === 'healthy' ? r.slot : null);
      expect(activeSlot(t)).toBe(next(t, { variant: 'chromeos' }).slot);
    }
  });
});

describe('next (ChromeOS variant)', () => {
  it('uses up tries, and the last try zeroes the priority', () => {
    const r = next(table([1, 0, 1], [2, 2, 0]), { variant: 'chromeos' });
    expect(r.slot).toBe('B');
    expect(bits(r.table).B).toEqual([2, 1, 0]);
    const r2 = next(r.table, { variant: 'chromeos' });
    expect(r2.slot).toBe('B'); // boots on its last try...
    expect(bits(r2.table).B).toEqual([0, 0, 0]); // ...which marks it bad
    expect(next(r2.table, { variant: 'chromeos' }).slot).toBe('A');
  });
  it('changes nothing on a successful slot', () => {
    const r = next(table([1, 4, 1], [0, 0, 0]), { variant: 'chromeos' });
    expect(r.slot).toBe('A');
    expect(r.changed).toBe(false);
    expect(bits(r.table).A).toEqual([1, 4, 1]);
  });
  it('rejects an unknown variant', () => {
    expect(() => next(fresh(), { variant: 'grub' as never })).toThrow(UsageError);
  });
});

describe('prioritize', () => {
  it('puts the slot on top: new 2, old 1; an unused other slot stays 0', () => {
    expect(bits(prioritize(table([1, 0, 1], [0, 1, 0]), 'B'))).toEqual({ A: [1, 0, 1], B: [2, 1, 0] });
    expect(bits(prioritize(table([1, 0, 1], [0, 0, 0]), 'A'))).toEqual({ A: [1, 0, 1], B: [0, 0, 0] });
    expect(bits(prioritize(table([15, 0, 1], [15, 0, 1]), 'B'))).toEqual({ A: [1, 0, 1], B: [2, 0, 1] });
    // B cannot boot: refused (it would not boot next); forced, it is cgpt's raw prioritize
    expect(bits(prioritize(table([0, 0, 0], [0, 0, 0]), 'B', { force: true }))).toEqual({ A: [0, 0, 0], B: [1, 0, 0] });
  });
  it('refuses a slot that cannot boot, naming its bits and the verbs that make it bootable', () => {
    expectSlotError(() => prioritize(table([1, 0, 1], [0, 0, 0]), 'B'), 'cannot make slot B boot next: it cannot boot (priority 0, tries 0, successful 0');
    expectSlotError(() => prioritize(table([1, 0, 1], [0, 0, 0]), 'B'), 'slot upgrade B');
    // whatever it accepts, the slot boots next
    for (const b of [[0, 1, 0], [3, 0, 1], [0, 15, 0]] as const) {
      expect(slotStatus(prioritize(table([1, 0, 1], [...b]), 'B')).next).toBe('B');
    }
  });
  it('leaves tries, successful and every other attribute bit alone', () => {
    const t = table([9, 7, 1], [4, 3, 0]);
    t.entries[2].attributes |= 1n << 60n; // read-only
    t.entries[3].attributes |= 1n << 2n; // legacy BIOS bootable
    const p = prioritize(t, 'B');
    expect(p.entries[2].attributes & ~(0xfn << 48n)).toBe(t.entries[2].attributes & ~(0xfn << 48n));
    expect(p.entries[3].attributes & ~(0xfn << 48n)).toBe(t.entries[3].attributes & ~(0xfn << 48n));
    expect(bits(p)).toEqual({ A: [1, 7, 1], B: [2, 3, 0] });
  });
  it('groups any set of partitions (3+ members, cgpt style)', () => {
    const t = fresh();
    const members = [1, 2, 3, 4, 6];
    const prios = [5, 3, 5, 0, 1];
    members.forEach((n, k) => (t.entries[n - 1].attributes = setBootBits(t.entries[n - 1].attributes, { priority: prios[k], tries: k, successful: k % 2 === 0 })));
    const p = prioritizePartitions(t, members, 2);
    const out = members.map((n) => getBootBits(p.entries[n - 1].attributes));
    expect(out.map((b) => b.priority)).toEqual(cgptPrioritize(prios, 1));
    expect(out.map((b) => b.priority)).toEqual([2, 3, 2, 0, 1]);
    expect(out.map((b) => b.tries)).toEqual([0, 1, 2, 3, 4]);
    expect(() => prioritizePartitions(t, members, 9)).toThrow(SlotError);
  });
});

describe('markSuccessful', () => {
  it('sets successful 1, tries 0 and puts the slot on top', () => {
    expect(bits(markSuccessful(table([1, 0, 1], [2, 0, 0]), 'B'))).toEqual({ A: [1, 0, 1], B: [2, 0, 1] });
    expect(bits(markSuccessful(table([2, 0, 1], [1, 1, 0]), 'B'))).toEqual({ A: [1, 0, 1], B: [2, 0, 1] });
  });
  it('keeps B booting afterwards', () => {
    let t = upgrade(fresh(), 'B');
    t = next(t).table;
    t = markSuccessful(t, 'B');
    for (let i = 0; i < 3; i++) {
      const r = next(t);
      expect(r).toMatchObject({ slot: 'B', pick: 'healthy' });
      expect(bits(r.table).B).toEqual([2, 0, 1]); // only the attempt is counted
      t = markSuccessful(r.table, 'B'); // the healthy boot clears it
    }
  });
  it('works after a ChromeOS last try zeroed the priority', () => {
    const t = next(upgrade(fresh(), 'B'), { variant: 'chromeos' }).table;
    expect(bits(t).B).toEqual([0, 0, 0]);
    expect(bits(markSuccessful(t, 'B'))).toEqual({ A: [1, 0, 1], B: [2, 0, 1] });
  });
  it('is idempotent on the active successful slot', () => {
    const t = table([1, 0, 1], [0, 0, 0]);
    expect(bits(markSuccessful(t, 'A'))).toEqual(bits(t));
  });
});

describe('upgrade', () => {
  it('marks the inactive slot for exactly one try on top', () => {
    const t = upgrade(fresh(), 'B');
    expect(bits(t)).toEqual({ A: [1, 0, 1], B: [2, 1, 0] });
    expect(slotStatus(t).next).toBe('B');
  });
  it('refuses the active successful slot, naming it and its bits', () => {
    expectSlotError(() => upgrade(fresh(), 'A'), 'cannot upgrade slot A', 'active successful', 'priority 1, tries 0, successful 1', 'inactive slot B');
  });
  it('allows re-upgrading a pending (unsuccessful) slot, and a successful slot that is not active', () => {
    expect(bits(upgrade(table([1, 0, 1], [2, 1, 0]), 'B'))).toEqual({ A: [1, 0, 1], B: [2, 1, 0] });
    expect(bits(upgrade(table([2, 0, 1], [1, 0, 1]), 'B'))).toEqual({ A: [1, 0, 1], B: [2, 1, 0] });
    // both successful at the same priority: A is active (lower number), B may be upgraded
    expect(() => upgrade(table([1, 0, 1], [1, 0, 1]), 'A')).toThrow(SlotError);
    expect(bits(upgrade(table([1, 0, 1], [1, 0, 1]), 'B'))).toEqual({ A: [1, 0, 1], B: [2, 1, 0] });
  });
  it('upgrading A from B alternates the roles', () => {
    let t = markSuccessful(next(upgrade(fresh(), 'B')).table, 'B');
    expect(inactiveSlot(t)).toBe('A');
    t = upgrade(t, 'A');
    expect(bits(t)).toEqual({ A: [2, 1, 0], B: [1, 0, 1] });
    expect(next(t).slot).toBe('A');
  });
});

describe('rollback', () => {
  it('makes the other bootable slot boot next', () => {
    const t = table([1, 0, 1], [2, 0, 1]); // B active, A good
    const r = rollback(t);
    expect(bits(r)).toEqual({ A: [2, 0, 1], B: [1, 0, 1] });
    expect(slotStatus(r).next).toBe('A');
  });
  it('rolls back from a pending upgrade to the old slot', () => {
    const r = rollback(upgrade(fresh(), 'B'));
    expect(slotStatus(r).next).toBe('A');
    expect(bits(r)).toEqual({ A: [2, 0, 1], B: [1, 1, 0] });
  });
  it('refuses when the other slot cannot boot, naming its bits', () => {
    expectSlotError(() => rollback(fresh()), 'cannot roll back to slot B', 'cannot boot', 'priority 0, tries 0, successful 0');
    expectSlotError(() => rollback(table([1, 0, 1], [3, 0, 0])), 'slot B', 'priority 3, tries 0, successful 0');
  });
  it('refuses when no slot can boot', () => {
    expectSlotError(() => rollback(table([0, 0, 1], [0, 1, 0])), 'no slot can boot');
  });
});

describe('cancelUpgrade', () => {
  it('undoes a pending upgrade', () => {
    const t = upgrade(fresh(), 'B');
    const c = cancelUpgrade(t);
    expect(bits(c)).toEqual({ A: [1, 0, 1], B: [0, 0, 0] });
    expect(slotStatus(c).next).toBe('A');
  });
  it('also clears an upgrade that used its try without being marked', () => {
    const t = next(upgrade(fresh(), 'B')).table; // B: 2, 0, 0
    expect(bits(cancelUpgrade(t))).toEqual({ A: [1, 0, 1], B: [0, 0, 0] });
  });
  it('refuses when nothing is pending', () => {
    expectSlotError(() => cancelUpgrade(fresh()), 'no pending upgrade', 'A (USR-A, partition 3: priority 1, tries 0, successful 1)');
    expectSlotError(() => cancelUpgrade(table([1, 0, 1], [2, 0, 1])), 'no pending upgrade');
  });
  it('refuses when the other slot cannot boot', () => {
    expectSlotError(() => cancelUpgrade(table([0, 0, 0], [2, 1, 0])), 'cannot cancel the upgrade of slot B', 'other slot cannot boot', 'A (USR-A');
  });
});

describe('setSlotBits', () => {
  it('sets only the given bits', () => {
    expect(bits(setSlotBits(fresh(), 'B', { tries: 3 }))).toEqual({ A: [1, 0, 1], B: [0, 3, 0] });
    expect(bits(setSlotBits(fresh(), 'A', { priority: 15, successful: false }))).toEqual({ A: [15, 0, 0], B: [0, 0, 0] });
    expect(bits(setSlotBits(fresh(), 'B', { priority: 0, tries: 15, successful: true }))).toEqual({ A: [1, 0, 1], B: [0, 15, 1] });
  });
  it('range-checks 0-15 with a UsageError', () => {
    for (const bad of [16, -1, 1.5, NaN]) {
      expect(() => setSlotBits(fresh(), 'A', { priority: bad })).toThrow(UsageError);
      expect(() => setSlotBits(fresh(), 'A', { tries: bad })).toThrow(/tries must be an integer 0-15/);
    }
  });
});

describe('inactiveSlot', () => {
  it('is the slot that does not boot next', () => {
    expect(inactiveSlot(fresh())).toBe('B');
    expect(inactiveSlot(table([1, 0, 1], [2, 0, 1]))).toBe('A');
    expect(inactiveSlot(table([1, 0, 1], [2, 0, 0]))).toBe('B'); // B cannot boot: A is active
    expectSlotError(() => inactiveSlot(table([0, 0, 0], [0, 0, 0])), 'no slot can boot');
  });
});

describe('transitions are pure', () => {
  const transitions: [string, (t: GptTable) => unknown][] = [
    ['next', (t) => next(t)],
    ['prioritize', (t) => prioritize(t, 'B')],
    ['markSuccessful', (t) => markSuccessful(t, 'B')],
    ['upgrade', (t) => upgrade(t, 'B')],
    ['rollback', (t) => rollback(t)],
    ['cancelUpgrade', (t) => cancelUpgrade(t)],
    ['setSlotBits', (t) => setSlotBits(t, 'A', { priority: 7 })],
  ];
  for (const [name, fn] of transitions) {
    it(`${name} leaves its input alone`, () => {
      const t = table([1, 0, 1], [2, 1, 0]);
      const copy = cloneTable(t);
      fn(t);
      expect(t).toEqual(copy);
    });
  }
});

describe('applySlotTransition on a Storage', () => {
  async function image(): Promise<MemoryStorage> {
    const s = new MemoryStorage(plan.diskBytes);
    await writeGpt(s, fresh(), { protectiveMbr: true });
    return s;
  }
  it('reads, transitions, writes both copies and reports before/after', async () => {
    const s = await image();
    const r = await applySlotTransition(s, (t) => upgrade(t, 'B'));
    expect(r.changed).toBe(true);
    expect(r.written).toBe(true);
    expect(r.before.next).toBe('A');
    expect(r.after.next).toBe('B');
    const read = await readGpt(s);
    expect(read.needsRepair).toBe(false);
    expect(bits(read.table)).toEqual({ A: [1, 0, 1], B: [2, 1, 0] });
    expect((await readSlotStatus(s)).status.next).toBe('B');
  });
  it('passes a next() result through and writes nothing when nothing changes', async () => {
    const s = await image();
    const before = Buffer.from(s.buffer);
    // ChromeOS rules leave a successful slot alone (the selector's rules count an attempt)
    const r = await applySlotTransition(s, (t) => next(t, { variant: 'chromeos' }));
    expect(r.result.slot).toBe('A');
    expect(r.changed).toBe(false);
    expect(r.written).toBe(false);
    expect(s.buffer.equals(before)).toBe(true);
  });
  it('dry run writes nothing', async () => {
    const s = await image();
    const before = Buffer.from(s.buffer);
    const r = await applySlotTransition(s, (t) => upgrade(t, 'B'), { dryRun: true });
    expect(r.changed).toBe(true);
    expect(r.written).toBe(false);
    expect(s.buffer.equals(before)).toBe(true);
  });
  it('names the file in errors and writes nothing when a guard fails', async () => {
    const s = await image();
    const before = Buffer.from(s.buffer);
    await expect(applySlotTransition(s, (t) => upgrade(t, 'A'), { file: 'disk.img' })).rejects.toMatchObject({ name: 'SlotError', file: 'disk.img' });
    expect(s.buffer.equals(before)).toBe(true);
  });
  it('rewrites a damaged primary from the backup when it writes', async () => {
    const s = await image();
    s.buffer.fill(0xff, 512, 1024); // destroy the primary header
    const r = await applySlotTransition(s, (t) => upgrade(t, 'B'));
    expect(r.source).toBe('backup');
    const read = await readGpt(s);
    expect(read.needsRepair).toBe(false);
    expect(bits(read.table).B).toEqual([2, 1, 0]);
  });
});

describe('guards on what a slot holds (contents)', () => {
  const empty = { B: { filled: false, reason: 'no verity superblock at its hash offset 130023424' } };
  it('prioritize, markSuccessful refuse an empty slot, naming it and why; --force allows', () => {
    const t = table([1, 0, 1], [0, 1, 0]);
    expectSlotError(() => prioritize(t, 'B', { contents: empty }), 'cannot prioritize slot B (USR-B, partition 4): it holds no /usr (no verity superblock');
    expectSlotError(() => markSuccessful(t, 'B', { contents: empty }), 'cannot mark successful slot B');
    expect(slotStatus(markSuccessful(t, 'B', { contents: empty, force: true })).next).toBe('B');
    expect(slotStatus(prioritize(t, 'B', { contents: empty, force: true })).next).toBe('B');
    // a filled slot, or one not described, passes
    expect(slotStatus(markSuccessful(t, 'B', { contents: { B: { filled: true } } })).next).toBe('B');
    expect(slotStatus(markSuccessful(t, 'A', { contents: empty })).next).toBe('A');
  });
  it('setSlotBits never makes an empty slot bootable, but may make it unbootable', () => {
    const t = table([1, 0, 1], [0, 1, 0]);
    expectSlotError(() => setSlotBits(t, 'B', { priority: 5 }, { contents: empty }), 'cannot make bootable slot B');
    expect(bits(setSlotBits(t, 'B', { tries: 0 }, { contents: empty })).B).toEqual([0, 0, 0]);
    expect(bits(setSlotBits(t, 'B', { priority: 5 }, { contents: empty, force: true })).B).toEqual([5, 1, 0]);
  });
});
