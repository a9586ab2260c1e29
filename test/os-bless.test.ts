/**
 * The example OS's blessing (os/files/usr/lib/imgbuild/bless, run here by Debian's /bin/sh with cgpt
 * on image files, as imgbuild-bless.service runs it on /dev/vda) against `imgbuild slot
 * mark-successful`: the same bits afterwards for either slot, on hand-picked and seeded random states;
 * except that a slot which already is good (successful 1, tries 0, above the other) is left alone and
 * nothing is written.
 */
import { execa } from 'execa';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { imgbuild, ROOT, tempDir } from './helpers.js';
import { BLESS_CASES, bits, NUMBER, seededStates, setBits, type State } from './bless-states.js';

const dir = tempDir('imgbuild-os-bless-');
const ours = join(dir, 'os.img');
const ref = join(dir, 'reference.img');
const run = join(dir, 'run');
const BLESS = join(ROOT, 'os/files/usr/lib/imgbuild/bless');

const alreadyGood = (s: State, slot: 'A' | 'B') => {
  const [p, t, ok] = s[slot];
  return ok === 1 && t === 0 && s[slot === 'A' ? 'B' : 'A'][0] < p;
};

async function check(s: State) {
  for (const slot of ['A', 'B'] as const) {
    await setBits(ours, s);
    await setBits(ref, s);
    const before = statSync(ours).mtimeMs;
    const r = await execa('sh', [BLESS, ours, String(NUMBER[slot])], { env: { IMGBUILD_LIB: join(ROOT, 'os/files/usr/lib/imgbuild'), IMGBUILD_RUN: run }, reject: false });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const result = readFileSync(join(run, 'bless'), 'utf8').trim();
    if (alreadyGood(s, slot)) {
      expect(result, `${JSON.stringify(s)} bless ${slot}`).toBe('already-good');
      // the bits stay; the attempt count of this boot is cleared, and with none nothing is written
      const mine = s[slot];
      expect(await bits(ours)).toEqual({ ...s, [slot]: [mine[0], mine[1], mine[2], 0] });
      if (mine[3] === 0) expect(statSync(ours).mtimeMs, 'nothing written').toBe(before);
      continue;
    }
    expect(result).toBe('blessed');
    const m = await imgbuild(['slot', 'mark-successful', ref, slot, '--force']); // no /usr in these images
    expect(m.exitCode, String(m.stderr)).toBe(0);
    expect(await bits(ours), `${JSON.stringify(s)} bless ${slot}`).toEqual(await bits(ref));
  }
}

beforeAll(async () => {
  mkdirSync(run);
  for (const img of [ours, ref]) {
    const r = await imgbuild(['gpt', 'create', '--layout', 'mini', '-o', img]);
    expect(r.exitCode, String(r.stderr)).toBe(0);
  }
});

describe("the OS's bless agrees with imgbuild slot mark-successful", { timeout: 120_000 }, () => {
  for (const [name, s] of BLESS_CASES) it(name, () => check(s));

  it('15 seeded random states', async () => {
    for (const s of seededStates(0x1b873593, 15)) await check(s);
  }, 600_000);
});
