/**
 * What both blessing cross-checks share (the test initramfs's bless.sh and the example OS's bless unit,
 * each against `imgbuild slot mark-successful`): the slot bits of a mini image read and written with
 * cgpt, the hand-picked states and a seeded stream of random ones.
 */
import { tool } from './helpers.js';

export type Bits = [priority: number, tries: number, successful: number];
export type State = { A: Bits; B: Bits };
/** The slots' partition numbers in the mini layout. */
export const NUMBER = { A: 3, B: 4 } as const;

export async function setBits(img: string, s: State): Promise<void> {
  for (const [n, [p, t, ok]] of [[NUMBER.A, s.A], [NUMBER.B, s.B]] as const) {
    await tool('cgpt', ['add', '-i', String(n), '-P', String(p), '-T', String(t), '-S', String(ok), img]);
  }
}

/** The bits as cgpt reads them back. */
export async function bits(img: string): Promise<State> {
  const get = async (n: number): Promise<Bits> => {
    const f = async (flag: string) => Number(String((await tool('cgpt', ['show', '-i', String(n), flag, img])).stdout).trim());
    return [await f('-P'), await f('-T'), await f('-S')];
  };
  return { A: await get(NUMBER.A), B: await get(NUMBER.B) };
}

export const BLESS_CASES: Array<[string, State]> = [
  ['fresh image (A already good)', { A: [1, 0, 1], B: [0, 0, 0] }],
  ['update pending on B', { A: [1, 0, 1], B: [2, 1, 0] }],
  ['B tried and never marked', { A: [1, 0, 1], B: [2, 0, 0] }],
  ['both good, B on top', { A: [1, 0, 1], B: [2, 0, 1] }],
  ['equal priorities', { A: [2, 0, 1], B: [2, 0, 1] }],
  ['nothing bootable', { A: [0, 0, 1], B: [1, 0, 0] }],
  ['priority 15 and many tries', { A: [15, 15, 0], B: [14, 0, 1] }],
  ['successful with tries left', { A: [3, 2, 1], B: [0, 0, 0] }],
];

/** `count` states from an xorshift stream: the same seed gives the same states. */
export function seededStates(seed: number, count: number): State[] {
  let x = seed;
  const rnd = (n: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
  const pick = (): Bits => [[0, 1, 2, 15][rnd(4)] ?? 0, [0, 0, 1, 3][rnd(4)], rnd(2)];
  return Array.from({ length: count }, () => ({ A: pick(), B: pick() }));
}
