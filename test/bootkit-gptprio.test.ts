/**
 * The initramfs's slot logic (hack/initramfs/lib/imgbuild/gptprio.sh, run here by busybox sh with cgpt
 * on image files, as /init runs it on /dev/vda) against the project's slot state machine
 * (`imgbuild slot next` / `imgbuild slot mark-successful`, itself cross-checked against cgpt): the
 * same choice and the same bits afterwards, on hand-picked and seeded random states.
 */
import { execa } from 'execa';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { imgbuild, ROOT, tempDir, tool } from './helpers.js';

const LIB = join(ROOT, 'hack/initramfs/lib/imgbuild/gptprio.sh');
const dir = tempDir('imgbuild-gptprio-');
const ours = join(dir, 'initramfs.img');
const ref = join(dir, 'reference.img');

type Bits = [priority: number, tries: number, successful: number];
type State = { A: Bits; B: Bits };

async function setBits(img: string, s: State) {
  for (const [n, [p, t, ok]] of [[3, s.A], [4, s.B]] as const) {
    await tool('cgpt', ['add', '-i', String(n), '-P', String(p), '-T', String(t), '-S', String(ok), img]);
  }
}

/** The bits as cgpt reads them back. */
async function bits(img: string): Promise<State> {
  const get = async (n: number): Promise<Bits> => {
    const f = async (flag: string) => Number(String((await tool('cgpt', ['show', '-i', String(n), flag, img])).stdout).trim());
    return [await f('-P'), await f('-T'), await f('-S')];
  };
  return { A: await get(3), B: await get(4) };
}

/** /init's steps on the image: choose + use a try, then (if asked) mark good. Prints the partition or "none". */
async function initramfsBoot(img: string, markGood: boolean): Promise<number | null> {
  const script = `. ${LIB}; if gptprio_next "$1"; then gptprio_take "$1" || exit 3; ${markGood ? 'gptprio_mark_good "$1" "$BEST" || exit 4;' : ''} echo "$BEST"; else echo none; fi`;
  const r = await execa('busybox', ['sh', '-c', script, 'sh', img]);
  const out = String(r.stdout).trim();
  return out === 'none' ? null : Number(out);
}

async function referenceBoot(img: string, markGood: boolean): Promise<number | null> {
  const r = await imgbuild(['slot', 'next', img, '--json']);
  if (r.exitCode !== 0) return null;
  const j = JSON.parse(String(r.stdout)) as { slot: string; number: number };
  if (markGood) {
    // --force: these are bare GPT images, their slots hold no /usr (the guard would refuse them)
    const m = await imgbuild(['slot', 'mark-successful', img, j.slot, '--force']);
    expect(m.exitCode, String(m.stderr)).toBe(0);
  }
  return j.number;
}

async function check(s: State) {
  for (const markGood of [false, true]) {
    await setBits(ours, s);
    await setBits(ref, s);
    const a = await initramfsBoot(ours, markGood);
    const b = await referenceBoot(ref, markGood);
    const label = `${JSON.stringify(s)} markGood=${markGood}`;
    expect(a, label).toBe(b);
    expect(await bits(ours), label).toEqual(await bits(ref));
  }
}

beforeAll(async () => {
  for (const img of [ours, ref]) {
    const r = await imgbuild(['gpt', 'create', '--layout', 'mini', '-o', img]);
    expect(r.exitCode, String(r.stderr)).toBe(0);
  }
});

describe('initramfs gptprio.sh agrees with imgbuild slot next / mark-successful', { timeout: 120_000 }, () => {
  const cases: Array<[string, State]> = [
    ['fresh image', { A: [1, 0, 1], B: [0, 0, 0] }],
    ['update pending on B', { A: [1, 0, 1], B: [2, 1, 0] }],
    ['B tried and never marked: falls back to A', { A: [1, 0, 1], B: [2, 0, 0] }],
    ['both good, B on top', { A: [1, 0, 1], B: [2, 0, 1] }],
    ['equal priorities: the lower index wins', { A: [2, 0, 1], B: [2, 0, 1] }],
    ['nothing bootable', { A: [0, 0, 1], B: [1, 0, 0] }],
    ['priority 15 and many tries', { A: [15, 15, 0], B: [14, 0, 1] }],
    ['successful with tries left: tries still used up', { A: [3, 2, 1], B: [0, 0, 0] }],
  ];
  for (const [name, s] of cases) it(name, () => check(s));

  it('15 seeded random states', async () => {
    let x = 0x2545f491;
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
