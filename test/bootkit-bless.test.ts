/**
 * The test initramfs's blessing (hack/initramfs/lib/imgbuild/bless.sh, run here by busybox sh with cgpt
 * on image files, as /init runs it on /dev/vda) against the project's slot state machine (`imgbuild
 * slot mark-successful`, itself cross-checked against cgpt): the same bits afterwards, for either slot,
 * on hand-picked and seeded random states. Choosing the slot is the UEFI selector's alone.
 */
import { execa } from 'execa';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { imgbuild, ROOT, tempDir } from './helpers.js';
import { BLESS_CASES, bits, NUMBER, seededStates, setBits, type State } from './bless-states.js';

const LIB = join(ROOT, 'hack/initramfs/lib/imgbuild/bless.sh');
const dir = tempDir('imgbuild-bless-');
const ours = join(dir, 'initramfs.img');
const ref = join(dir, 'reference.img');

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
  for (const [name, s] of BLESS_CASES) it(name, () => check(s));

  it('15 seeded random states', async () => {
    for (const s of seededStates(0x2545f491, 15)) await check(s);
  }, 600_000);
});
