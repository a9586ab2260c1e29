/** Creating an image file that holds a layout's GPT and nothing else. */
import { createHash } from 'node:crypto';
import { withAtomicOutput } from '../atomic.js';
import { writeGpt } from '../gpt/io.js';
import { checkSeed } from '../guid.js';
import type { GptTable } from '../gpt/table.js';
import { loadLayout } from './load.js';
import { planToTable, type LayoutPlan } from './plan.js';
import { FileStorage } from '../storage.js';

/** With no seed given, one derived from the layout itself, so the same layout gives the same table. */
export function defaultSeed(plan: LayoutPlan, ...inputs: string[]): string {
  const h = createHash('sha256').update(JSON.stringify(plan, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
  for (const i of inputs) h.update(i);
  return h.digest('hex');
}

export async function createGptImage(opts: { layout: string | LayoutPlan; seed?: string; output: string; force?: boolean }): Promise<{ plan: LayoutPlan; table: GptTable; seed: string }> {
  checkSeed(opts.seed);
  const plan = typeof opts.layout === 'string' ? await loadLayout(opts.layout) : opts.layout;
  const seed = opts.seed ?? defaultSeed(plan);
  const table = planToTable(plan, seed);
  await withAtomicOutput(opts.output, !!opts.force, async (tmp) => {
    const s = await FileStorage.create(tmp, plan.diskBytes);
    try {
      await writeGpt(s, table, { protectiveMbr: true });
    } finally {
      await s.close();
    }
  });
  return { plan, table, seed };
}
