/**
 * The selector's gptprio.c against @imgbuild/core's next() (what `imgbuild slot next` runs), over
 * every state of two slots: priority 0-15 x tries 0-15 x successful 0/1 for each, 512 x 512 states.
 * The host binary enumerates the states itself in a fixed order and prints one line per state; the
 * test builds the same states with the core's helpers and compares line by line.
 */
import {
  FileStorage,
  findSlots,
  getBootBits,
  loadLayout,
  next,
  planToTable,
  setBootBits,
  setSlotBits,
  TYPE_ALIASES,
  writeGpt,
  type GptTable,
} from '@imgbuild/core';
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
