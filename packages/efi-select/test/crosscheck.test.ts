/**
 * The selector's gptprio.c and attempts.c against @imgbuild/core's next() (what `imgbuild slot next`
 * runs):
 *   - every gptprio state of two slots: priority 0-15 x tries 0-15 x successful 0/1 each, 512 x 512;
 *   - every state that decides attempt counting, for every limit 1-6: priority 0-3 x tries 0-2 x
 *     successful 0/1 x attempts 0-7 each, 192 x 192. Priority and tries enter the rules only through
 *     "0", "equal", "greater" and "one less", which these ranges cover; the 512 x 512 run covers
 *     every value of them.
 * The host binary enumerates the states itself in a fixed order and prints one line per state; the
 * test builds the same states with the core's helpers and compares line by line.
 */
import { FileStorage, getBootBits, setBootBits, TYPE_ALIASES, writeGpt, type GptTable } from '@imgbuild/core/gpt';
import { loadLayout, next, setSlotBits } from '@imgbuild/core';
// Below the public API: the attempt bits and the plan-to-table step the host binary is compared on.
import { ATTEMPTS_DEMOTED, getAttempts, setAttempts } from '../../core/src/gpt/attributes.js';
import { findSlots } from '../../core/src/slot/state.js';
import { planToTable } from '../../core/src/layout/plan.js';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { needBuild, selectHost, tempDir } from './helpers.js';

needBuild();
const dir = tempDir('efi-select-crosscheck-');

const hex = (a: bigint) => a.toString(16).padStart(16, '0');

/** The state with index s (0-511): priority, tries, successful, in the host's nesting order. */
const bitsOf = (s: number) => ({ priority: s >> 5, tries: (s >> 1) & 0xf, successful: (s & 1) === 1 });

/** What the core says for every state, as the host prints it. */
function coreLines(table: GptTable): string[] {
  const [a, b] = ['A', 'B'].map((x) => findSlots(table).find((s) => s.slot === x)!.number - 1);
  const work = { ...table, entries: table.entries.map((e) => ({ ...e })) };
  const baseA = table.entries[a].attributes;
  const baseB = table.entries[b].attributes;
  const lines: string[] = [];
  for (let sa = 0; sa < 512; sa++) {
    for (let sb = 0; sb < 512; sb++) {
      // setBootBits on one working table: 262144 setSlotBits clones would make this minutes, not
      // seconds; spot checks below show the two agree.
      work.entries[a].attributes = setBootBits(baseA, bitsOf(sa));
      work.entries[b].attributes = setBootBits(baseB, bitsOf(sb));
      const r = next(work, { variant: 'flatcar' });
      lines.push(`${r.slot ?? '-'} ${r.number ?? 0} ${hex(r.table.entries[a].attributes)} ${hex(r.table.entries[b].attributes)}`);
    }
  }
  return lines;
}

async function writeImage(name: string, table: GptTable): Promise<string> {
  const path = join(dir, name);
  const s = await FileStorage.create(path, table.totalSectors * table.sectorSize);
  try {
    await writeGpt(s, table, { protectiveMbr: true });
  } finally {
    await s.close();
  }
  return path;
}

/** The attempt-state index s (0-191) as the host splits it. */
const attemptStateOf = (s: number) => ({ attempts: s % 8, successful: Math.floor(s / 8) % 2 === 1, tries: Math.floor(s / 16) % 3, priority: Math.floor(s / 48) });

function coreAttemptLines(table: GptTable, limit: number): string[] {
  const [a, b] = ['A', 'B'].map((x) => findSlots(table).find((s) => s.slot === x)!.number - 1);
  const work = { ...table, entries: table.entries.map((e) => ({ ...e })) };
  const set = (i: number, base: bigint, st: number) => {
    const { attempts, ...bits } = attemptStateOf(st);
    work.entries[i].attributes = setAttempts(setBootBits(base, bits), attempts);
  };
  const lines: string[] = [];
  for (let sa = 0; sa < 192; sa++) {
    for (let sb = 0; sb < 192; sb++) {
      set(a, table.entries[a].attributes, sa);
      set(b, table.entries[b].attributes, sb);
      const r = next(work, { variant: 'flatcar', attemptLimit: limit });
      const kind = r.pick === 'healthy' ? 'h' : r.pick === 'least-bad' ? 'l' : '-';
      lines.push(`${r.slot ?? '-'} ${r.number ?? 0} ${hex(r.table.entries[a].attributes)} ${hex(r.table.entries[b].attributes)} ${kind}`);
    }
  }
  return lines;
}

async function compareAttemptStates(table: GptTable, name: string, limit: number): Promise<void> {
  const image = await writeImage(name, table);
  const host = await selectHost(['--attempt-states', image, '--limit', String(limit)]);
  expect(host.exitCode, host.stderr as string).toBe(0);
  const got = (host.stdout as string).split('\n');
  const want = coreAttemptLines(table, limit);
  expect(got.length).toBe(want.length);
  const firstDiff = want.findIndex((line, i) => got[i] !== line);
  if (firstDiff >= 0) {
    const a = attemptStateOf(Math.floor(firstDiff / 192));
    const b = attemptStateOf(firstDiff % 192);
    expect.fail(`limit ${limit}, state A=${JSON.stringify(a)} B=${JSON.stringify(b)}: host "${got[firstDiff]}", core "${want[firstDiff]}"`);
  }
  // the run exercised every outcome: healthy picks, least-bad picks, demotions of each slot
  expect(want.some((l) => l.endsWith(' h'))).toBe(true);
  expect(want.some((l) => l.endsWith(' l'))).toBe(true);
}

async function compareAllStates(table: GptTable, name: string): Promise<void> {
  const image = await writeImage(name, table);
  const host = await selectHost(['--states', image]);
  expect(host.exitCode, host.stderr as string).toBe(0);
  const got = (host.stdout as string).split('\n');
  const want = coreLines(table);
  expect(got.length).toBe(want.length);
  const firstDiff = want.findIndex((line, i) => got[i] !== line);
  if (firstDiff >= 0) {
    const a = bitsOf(firstDiff >> 9);
    const b = bitsOf(firstDiff & 511);
    expect.fail(`state A=${JSON.stringify(a)} B=${JSON.stringify(b)}: host "${got[firstDiff]}", core "${want[firstDiff]}"`);
  }
}

describe('gptprio.c agrees with next() on every state of two slots', () => {
  it('mini layout (flatcar-usr USR-A = 3, USR-B = 4)', async () => {
    const table = planToTable(await loadLayout('mini'), 'crosscheck');
    await compareAllStates(table, 'mini.img');
  });

  it('usr-x86-64 slots labelled usr_b / Usr_A, B on the lower partition number, other attribute bits set', async () => {
    const table = planToTable(await loadLayout('mini'), 'crosscheck');
    const slots = findSlots(table);
    const ia = slots.find((s) => s.slot === 'A')!.number - 1;
    const ib = slots.find((s) => s.slot === 'B')!.number - 1;
    // Swap the two entries' identities so that B has the lower number (ties must go to B).
    const ea = table.entries[ia];
    const eb = table.entries[ib];
    table.entries[ia] = { ...ea, name: 'usr_b', type: TYPE_ALIASES['usr-x86-64'], attributes: (1n << 60n) | (1n << 2n) };
    table.entries[ib] = { ...eb, name: 'Usr_A', type: TYPE_ALIASES['usr-x86-64'], attributes: 1n << 63n };
    await compareAllStates(table, 'swapped.img');
  });

  it('versioned slots (sysupdate labels, found by table order): a version and _empty; _empty never starts', async () => {
    const table = planToTable(await loadLayout('sysupdate-mini'), 'crosscheck');
    const slots = findSlots(table);
    expect(slots.map((s) => [s.slot, s.label, s.versioned, s.empty])).toEqual([
      ['A', 'imgbuild_@v', true, false],
      ['B', '_empty', true, true],
    ]);
    await compareAllStates(table, 'versioned-empty.img');
  });

  it('versioned slots: _empty first in the table, a version second; and two versions', async () => {
    const table = planToTable(await loadLayout('sysupdate-mini'), 'crosscheck');
    const [a, b] = findSlots(table).map((s) => s.number - 1);
    table.entries[a] = { ...table.entries[a], name: '_empty' };
    table.entries[b] = { ...table.entries[b], name: 'imgbuild_7' };
    await compareAllStates(table, 'versioned-empty-first.img');
    table.entries[a] = { ...table.entries[a], name: 'imgbuild_8' };
    await compareAttemptStates(table, 'versioned-two.img', 3);
  });

  it('attempt counting: every state that fits, for every limit 1-6 (mini layout)', async () => {
    const table = planToTable(await loadLayout('mini'), 'crosscheck');
    for (let limit = 1; limit <= 6; limit++) await compareAttemptStates(table, `attempts-${limit}.img`, limit);
  });

  it('attempt counting with usr-x86-64 slots, B on the lower number, other attribute bits set', async () => {
    const table = planToTable(await loadLayout('mini'), 'crosscheck');
    const slots = findSlots(table);
    const ia = slots.find((s) => s.slot === 'A')!.number - 1;
    const ib = slots.find((s) => s.slot === 'B')!.number - 1;
    const ea = table.entries[ia];
    const eb = table.entries[ib];
    // bits 57, 59, 60, 63 sit between and beside the count's bits 58, 61, 62 and must survive
    table.entries[ia] = { ...ea, name: 'usr_b', type: TYPE_ALIASES['usr-x86-64'], attributes: (1n << 57n) | (1n << 60n) };
    table.entries[ib] = { ...eb, name: 'Usr_A', type: TYPE_ALIASES['usr-x86-64'], attributes: (1n << 59n) | (1n << 63n) };
    await compareAttemptStates(table, 'attempts-swapped.img', 3);
  });

  it('the count codec: bits 58, 61, 62 and nothing else', () => {
    expect(setAttempts(0n, 1)).toBe(1n << 58n);
    expect(setAttempts(0n, 2)).toBe(1n << 61n);
    expect(setAttempts(0n, ATTEMPTS_DEMOTED)).toBe((1n << 58n) | (1n << 61n) | (1n << 62n));
    expect(getAttempts(setAttempts(~0n & ((1n << 64n) - 1n), 5))).toBe(5);
    expect(setAttempts((1n << 64n) - 1n, 0)).toBe(((1n << 64n) - 1n) & ~((1n << 58n) | (1n << 61n) | (1n << 62n)));
  });

  it('setBootBits on the working table gives the same tables as setSlotBits', async () => {
    const table = planToTable(await loadLayout('mini'), 'crosscheck');
    for (const [sa, sb] of [[0, 0], [511, 0], [37, 38], [300, 301], [511, 511]]) {
      const viaCore = setSlotBits(setSlotBits(table, 'A', bitsOf(sa)), 'B', bitsOf(sb));
      const [a, b] = ['A', 'B'].map((x) => findSlots(table).find((s) => s.slot === x)!.number - 1);
      expect(getBootBits(viaCore.entries[a].attributes)).toEqual(bitsOf(sa));
      expect(getBootBits(viaCore.entries[b].attributes)).toEqual(bitsOf(sb));
      expect(viaCore.entries[a].attributes).toBe(setBootBits(table.entries[a].attributes, bitsOf(sa)));
    }
  });
});
