/**
 * What both blessing cross-checks share (the test initramfs's bless.sh and the example OS's bless unit,
 * each against `imgbuild slot mark-successful`): the slot bits of a mini image read and written with
 * cgpt, the hand-picked states and a seeded stream of random ones.
 */
import { tool } from './helpers.js';

/** The boot bits and the attempt count (0-7, bits 58/61/62: cgpt shows them through -A). */
export type Bits = [priority: number, tries: number, successful: number, attempts: number];
export type State = { A: Bits; B: Bits };
/** The slots' partition numbers in the mini layout. */
export const NUMBER = { A: 3, B: 4 } as const;

export async function setBits(img: string, s: State): Promise<void> {
  for (const [n, [p, t, ok, attempts]] of [[NUMBER.A, s.A], [NUMBER.B, s.B]] as const) {
    await tool('cgpt', ['add', '-i', String(n), '-P', String(p), '-T', String(t), '-S', String(ok), img]);
    const raw = Number(String((await tool('cgpt', ['show', '-i', String(n), '-A', img])).stdout).trim());
    await tool('cgpt', ['add', '-i', String(n), '-A', String((raw & ~0x6400) | attemptBits(attempts)), img]);
  }
}

/** The attempt count in cgpt's -A value (bits 48-63): bits 58, 61, 62 are 10, 13, 14 there. */
const attemptBits = (n: number) => ((n & 1) << 10) | ((n >> 1) << 13);

/** The bits as cgpt reads them back. */
export async function bits(img: string): Promise<State> {
  const get = async (n: number): Promise<Bits> => {
    const f = async (flag: string) => Number(String((await tool('cgpt', ['show', '-i', String(n), flag, img])).stdout).trim());
    const raw = await f('-A');
    return [await f('-P'), await f('-T'), await f('-S'), ((raw >> 10) & 1) | ((raw >> 12) & 6)];
  };
  return { A: await get(NUMBER.A), B: await get(NUMBER.B) };
}

export const BLESS_CASES: Array<[string, State]> = [
  ['fresh image (A already good)', { A: [1, 0, 1, 0], B: [0, 0, 0, 0] }],
  ['A good, booted once more (attempt counted)', { A: [1, 0, 1, 1], B: [0, 0, 0, 0] }],
  ['update pending on B', { A: [1, 0, 1, 0], B: [2, 1, 0, 1] }],
  ['B tried and never marked', { A: [1, 0, 1, 0], B: [2, 0, 0, 2] }],
  ['both good, B on top', { A: [1, 0, 1, 0], B: [2, 0, 1, 1] }],
  ['equal priorities', { A: [2, 0, 1, 3], B: [2, 0, 1, 0] }],
  ['nothing bootable, both demoted', { A: [0, 0, 1, 7], B: [1, 0, 0, 7] }],
  ['priority 15 and many tries', { A: [15, 15, 0, 6], B: [14, 0, 1, 5] }],
  ['successful with tries left', { A: [3, 2, 1, 0], B: [0, 0, 0, 4] }],
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
  const pick = (): Bits => [[0, 1, 2, 15][rnd(4)] ?? 0, [0, 0, 1, 3][rnd(4)], rnd(2), [0, 1, 3, 7][rnd(4)]];
  return Array.from({ length: count }, () => ({ A: pick(), B: pick() }));
}
