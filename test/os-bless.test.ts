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
import { imgbuild, ROOT, tempDir, tool } from './helpers.js';

const dir = tempDir('imgbuild-os-bless-');
const ours = join(dir, 'os.img');
const ref = join(dir, 'reference.img');
const run = join(dir, 'run');
const BLESS = join(ROOT, 'os/files/usr/lib/imgbuild/bless');

type Bits = [priority: number, tries: number, successful: number];
type State = { A: Bits; B: Bits };
const NUMBER = { A: 3, B: 4 } as const;

async function setBits(img: string, s: State) {
  for (const [n, [p, t, ok]] of [[3, s.A], [4, s.B]] as const) {
    await tool('cgpt', ['add', '-i', String(n), '-P', String(p), '-T', String(t), '-S', String(ok), img]);
  }
}

async function bits(img: string): Promise<State> {
  const get = async (n: number): Promise<Bits> => {
    const f = async (flag: string) => Number(String((await tool('cgpt', ['show', '-i', String(n), flag, img])).stdout).trim());
    return [await f('-P'), await f('-T'), await f('-S')];
  };
  return { A: await get(3), B: await get(4) };
}

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
      expect(await bits(ours)).toEqual(s);
      expect(statSync(ours).mtimeMs, 'nothing written').toBe(before);
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
  const cases: Array<[string, State]> = [
    ['fresh image (A already good)', { A: [1, 0, 1], B: [0, 0, 0] }],
    ['update pending on B', { A: [1, 0, 1], B: [2, 1, 0] }],
    ['B tried and never marked', { A: [1, 0, 1], B: [2, 0, 0] }],
    ['both good, B on top', { A: [1, 0, 1], B: [2, 0, 1] }],
    ['equal priorities', { A: [2, 0, 1], B: [2, 0, 1] }],
    ['nothing bootable', { A: [0, 0, 1], B: [1, 0, 0] }],
    ['priority 15 and many tries', { A: [15, 15, 0], B: [14, 0, 1] }],
    ['successful with tries left', { A: [3, 2, 1], B: [0, 0, 0] }],
  ];
  for (const [name, s] of cases) it(name, () => check(s));

  it('15 seeded random states', async () => {
    let x = 0x1b873593;
    const rnd = (n: number) => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return (x >>> 0) % n;
    };
    const pick = (): Bits => [[0, 1, 2, 15][rnd(4)] ?? 0, [0, 0, 1, 3][rnd(4)], rnd(2)];
    for (let i = 0; i < 15; i++) await check({ A: pick(), B: pick() });
  }, 600_000);
});
