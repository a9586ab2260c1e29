/**
 * The test initramfs's blessing (hack/initramfs/lib/imgbuild/bless.sh, run here by busybox sh with cgpt
 * on image files, as /init runs it on /dev/vda) against the project's slot state machine (`imgbuild
 * slot mark-successful`, itself cross-checked against cgpt): the same bits afterwards, for either slot,
 * on hand-picked and seeded random states. Choosing the slot is the UEFI selector's alone.
 */
import { execa } from 'execa';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { imgbuild, ROOT, tempDir, tool } from './helpers.js';

const LIB = join(ROOT, 'hack/initramfs/lib/imgbuild/bless.sh');
const dir = tempDir('imgbuild-bless-');
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

const NUMBER = { A: 3, B: 4 } as const;

/** /init's last step on the image: bless partition N. */
async function initramfsBless(img: string, slot: 'A' | 'B') {
  await execa('busybox', ['sh', '-c', `. ${LIB}; bless_slot "$1" "$2"`, 'sh', img, String(NUMBER[slot])]);
}

async function referenceBless(img: string, slot: 'A' | 'B') {
  // --force: these images hold no /usr; only the bits matter here
  const m = await imgbuild(['slot', 'mark-successful', img, slot, '--force']);
  expect(m.exitCode, String(m.stderr)).toBe(0);
}

async function check(s: State) {
  for (const slot of ['A', 'B'] as const) {
    await setBits(ours, s);
    await setBits(ref, s);
    await initramfsBless(ours, slot);
    await referenceBless(ref, slot);
    expect(await bits(ours), `${JSON.stringify(s)} bless ${slot}`).toEqual(await bits(ref));
  }
}

beforeAll(async () => {
  for (const img of [ours, ref]) {
    const r = await imgbuild(['gpt', 'create', '--layout', 'mini', '-o', img]);
    expect(r.exitCode, String(r.stderr)).toBe(0);
  }
});

describe('initramfs bless.sh agrees with imgbuild slot mark-successful', { timeout: 120_000 }, () => {
  const cases: Array<[string, State]> = [
    ['fresh image', { A: [1, 0, 1], B: [0, 0, 0] }],
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
