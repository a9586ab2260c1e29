/**
 * The UEFI slot selector's console lines (packages/efi-select), read back from a serial log. Every
 * line starts with `imgbuild-select: `; the one that matters most says which slot was started:
 *
 *   imgbuild-select: slot=B partition=4 priority=2 tries=1->0 successful=0 attempts=0->1
 *   imgbuild-select: slot=A partition=3 priority=1 tries=0 successful=1 attempts=demoted   (the least bad)
 *
 * One boot may print several (a slot whose UKI cannot start is given up and the next one chosen), and a
 * run that is allowed to reset prints one set per boot, so everything is kept in order.
 */
import type { Slot } from '../layout/plan.js';

/**
 * One boot the UEFI slot selector started: the slot and its bits before and after.
 *
 * @example
 * ```ts
 * for (const c of run.selector.choices) console.log(c.slot, `tries ${c.triesBefore}→${c.triesAfter}`);
 * ```
 */
export interface SelectorChoice {
  slot: Slot;
  partition: number;
  priority: number;
  triesBefore: number;
  triesAfter: number;
  successful: boolean;
  /** The slot's attempt count before and after (7 = demoted); null from a selector that does not count. */
  attemptsBefore: number | null;
  attemptsAfter: number | null;
}

/**
 * What the UEFI slot selector printed during a run, and the slots it started.
 *
 * @example
 * ```ts
 * const r = await runQemu({ image: 'disk.raw', allowReset: 3 });
 * console.log(r.selector.choices.map((c) => c.slot).join(' → ')); // B → B → A
 * ```
 */
export interface SelectorLog {
  /** Every selector line, in console order, without the prefix. */
  lines: string[];
  /** The slots it chose to start, in order. */
  choices: SelectorChoice[];
}

const PREFIX = 'imgbuild-select: ';
const CHOICE = /^slot=(A|B) partition=(\d+) priority=(\d+) tries=(\d+)(?:->(\d+))? successful=([01])(?: attempts=(\d|demoted)(?:->(\d|demoted))?)?\s*$/;
const count = (v: string | undefined) => (v === undefined ? null : v === 'demoted' ? 7 : Number(v));

export function parseSelectorLog(log: string): SelectorLog {
  const lines: string[] = [];
  const choices: SelectorChoice[] = [];
  for (const raw of log.split(/\r?\n/)) {
    const at = raw.indexOf(PREFIX);
    if (at < 0) continue;
    const line = raw.slice(at + PREFIX.length).trim();
    lines.push(line);
    const m = CHOICE.exec(line);
    if (m) {
      choices.push({
        slot: m[1] as Slot,
        partition: Number(m[2]),
        priority: Number(m[3]),
        triesBefore: Number(m[4]),
        triesAfter: Number(m[5] ?? m[4]),
        successful: m[6] === '1',
        attemptsBefore: count(m[7]),
        attemptsAfter: count(m[8] ?? m[7]),
      });
    }
  }
  return { lines, choices };
}
