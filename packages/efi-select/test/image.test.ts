/**
 * select-host on real images made by the CLI (`imgbuild gpt create --layout mini` + `slot set`),
 * against `imgbuild slot next` on a copy: same choice, and byte-identical files afterwards (same
 * GPT encoding, same write positions; compared over the GPT regions at both ends). Also the repair of a damaged copy, the fall-back when a
 * slot's UKI is missing, and the lines printed when nothing can boot.
 */
import { closeSync, copyFileSync, fstatSync, openSync, readSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { imgbuild, needBuild, selectHost, tempDir } from './helpers.js';

needBuild();
const dir = tempDir('efi-select-image-');
let n = 0;

async function image(set: Record<'A' | 'B', string[] | undefined>, layout = 'mini'): Promise<string> {
  const path = join(dir, `i${n++}.img`);
  const r = await imgbuild(['gpt', 'create', '--layout', layout, '--seed', 'efi-select', '-o', path]);
  expect(r.exitCode, r.stderr as string).toBe(0);
  for (const slot of ['A', 'B'] as const) {
    const args = set[slot];
    if (!args) continue;
    const s = await imgbuild(['slot', 'set', path, slot, ...args, '--force']); // bare GPT images: their slots hold no /usr
    expect(s.exitCode, s.stderr as string).toBe(0);
  }
  return path;
}

/**
 * The regions a GPT writer touches: protective MBR, primary header and array, backup array and
 * header (1 MiB at each end covers them for 512 and 4096-byte sectors). Reading whole images of
 * several hundred MiB would dominate the run time, and neither tool writes anywhere else.
 */
function gptRegions(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const span = 1 << 20;
    const head = Buffer.alloc(span);
    const tail = Buffer.alloc(span);
    readSync(fd, head, 0, span, 0);
    readSync(fd, tail, 0, span, size - span);
    return Buffer.concat([head, tail]);
  } finally {
    closeSync(fd);
  }
}

const imageSize = (path: string) => {
  const fd = openSync(path, 'r');
  try {
    return fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
};

async function poke(path: string, offset: number, byte: number): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.write(Buffer.from([byte]), 0, 1, offset);
  } finally {
    await fh.close();
  }
}

async function cliNext(path: string): Promise<{ slot: string | null; number: number | null }> {
  const r = await imgbuild(['slot', 'next', path, '--json']);
  expect(r.exitCode, r.stderr as string).toBe(0);
  return JSON.parse(r.stdout as string);
}

async function status(path: string) {
  const r = await imgbuild(['slot', 'status', path, '--json']);
  expect(r.exitCode, r.stderr as string).toBe(0);
  return JSON.parse(r.stdout as string) as { next: string | null; slots: { slot: string; priority: number; tries: number; successful: boolean }[] };
}

/** Runs select-host --write on `path` and the CLI's slot next on a copy; both files must end up equal. */
async function bothWays(path: string): Promise<{ lines: string[]; cli: { slot: string | null; number: number | null } }> {
  const copy = path + '.cli';
  copyFileSync(path, copy);
  const host = await selectHost([path, '--write']);
  expect(host.exitCode, host.stderr as string).toBe(0);
  const cli = await cliNext(copy);
  expect(gptRegions(path).equals(gptRegions(copy)), 'host and CLI leave the same bytes').toBe(true);
  return { lines: (host.stdout as string).split('\n'), cli };
}

describe('select-host on images built by the CLI', () => {
  it('a fresh image boots A and counts the attempt (the blessing clears it)', async () => {
    const path = await image({ A: undefined, B: undefined });
    const { lines, cli } = await bothWays(path);
    expect(lines).toEqual(['imgbuild-select: slot=A partition=3 priority=1 tries=0 successful=1 attempts=0->1']);
    expect(cli.slot).toBe('A');
    expect((await status(path)).slots.find((s) => s.slot === 'A')).toMatchObject({ attempts: 1, demoted: false });
  });

  it('an upgraded B boots and uses a try, as `imgbuild slot next` does', async () => {
    const path = await image({ A: undefined, B: ['--priority', '2', '--tries', '3'] });
    const { lines, cli } = await bothWays(path);
    expect(lines).toEqual(['imgbuild-select: slot=B partition=4 priority=2 tries=3->2 successful=0 attempts=0->1']);
    expect(cli).toMatchObject({ slot: 'B', number: 4 });
  });

  it('without --write nothing changes', async () => {
    const path = await image({ A: undefined, B: ['--priority', '2', '--tries', '1'] });
    const before = gptRegions(path);
    const r = await selectHost([path]);
    expect(r.stdout).toBe('imgbuild-select: slot=B partition=4 priority=2 tries=1->0 successful=0 attempts=0->1');
    expect(gptRegions(path).equals(before)).toBe(true);
  });

  it('a damaged primary header is repaired from the backup before choosing; sgdisk -v is clean', async () => {
    const path = await image({ A: undefined, B: ['--priority', '2', '--tries', '1'] });
    await poke(path, 512 + 40, 0x77); // first usable LBA: header CRC no longer matches
    const { lines, cli } = await bothWays(path);
    expect(lines).toEqual([
      'imgbuild-select: primary GPT damaged (header CRC), repaired from backup',
      'imgbuild-select: slot=B partition=4 priority=2 tries=1->0 successful=0 attempts=0->1',
    ]);
    expect(cli.slot).toBe('B');
    const v = await execa('sgdisk', ['-v', path]);
    expect(v.stdout).toContain('No problems found');
  });

  it('a damaged backup entry array is repaired from the primary, even when nothing else changes', async () => {
    const path = await image({ A: undefined, B: undefined });
    const pristine = gptRegions(path);
    await poke(path, imageSize(path) - 512 * 33 + 56, 0x55); // a label byte in the backup array
    const r = await selectHost([path, '--write']);
    expect((r.stdout as string).split('\n')).toEqual([
      'imgbuild-select: backup GPT damaged (entry array CRC), repaired from primary',
      'imgbuild-select: slot=A partition=3 priority=1 tries=0 successful=1 attempts=0->1',
    ]);
    // the repair restored the array; the only other change is A's counted attempt
    expect((await imgbuild(['slot', 'set', path, 'A', '--attempts', '0', '--force'])).exitCode).toBe(0);
    expect(gptRegions(path).equals(pristine)).toBe(true);
  });

  it('a slot whose UKI is missing loses its tries and the other slot boots in the same run', async () => {
    const path = await image({ A: undefined, B: ['--priority', '2', '--tries', '3'] });
    const r = await selectHost([path, '--write', '--fail', 'B']);
    expect(r.exitCode).toBe(0);
    expect((r.stdout as string).split('\n')).toEqual([
      'imgbuild-select: slot=B partition=4 priority=2 tries=3->2 successful=0 attempts=0->1',
      'imgbuild-select: slot=B cannot boot: \\EFI\\Linux\\imgbuild-usr-b.efi: Not Found; tries -> 0',
      'imgbuild-select: slot=A partition=3 priority=1 tries=0 successful=1 attempts=0->1',
    ]);
    const st = await status(path);
    expect(st.slots.find((s) => s.slot === 'B')).toMatchObject({ priority: 2, tries: 0, successful: false });
    expect(st.next).toBe('A');
    const v = await execa('sgdisk', ['-v', path]);
    expect(v.stdout).toContain('No problems found');
  });

  it('when no slot can be started it says why and asks for a reset, never a power-off', async () => {
    const path = await image({ A: undefined, B: ['--priority', '1', '--tries', '1'] });
    const r = await selectHost([path, '--write', '--fail', 'AB']);
    expect(r.exitCode).toBe(4); // SELECTOR_RETRY: the firmware build resets and chooses again
    expect((r.stdout as string).split('\n').at(-1)).toBe(
      'imgbuild-select: no bootable slot (A: priority=1 tries=0 successful=1 attempts=1, failed to boot; B: priority=1 tries=0 successful=0 attempts=1, failed to boot); resetting to try again',
    );
  });

  it('a slot whose last 3 boots never became healthy is demoted; the other boots; the CLI agrees', async () => {
    const path = await image({ A: ['--attempts', '3'], B: ['--priority', '2', '--successful', '1'] });
    const { lines } = await bothWays(path);
    expect(lines).toEqual([
      'imgbuild-select: slot=A demoted: its last 3 boots never became healthy',
      'imgbuild-select: slot=B partition=4 priority=2 tries=0 successful=1 attempts=0->1',
    ]);
    expect((await status(path)).slots.find((s) => s.slot === 'A')).toMatchObject({ attempts: 7, demoted: true });
  });

  it('a good slot on top that keeps failing is left for the other; when both are demoted the least bad boots', async () => {
    const path = await image({ A: ['--priority', '2', '--attempts', '3'], B: ['--priority', '1', '--successful', '1'] });
    let { lines, cli } = await bothWays(path);
    expect(lines).toEqual([
      'imgbuild-select: slot=A demoted: its last 3 boots never became healthy',
      'imgbuild-select: slot=B partition=4 priority=1 tries=0 successful=1 attempts=0->1',
    ]);
    expect(cli.slot).toBe('B');
    // B fails twice more: demoted too; A, good once and on top, is the least bad
    for (let i = 0; i < 2; i++) await bothWays(path);
    ({ lines, cli } = await bothWays(path));
    expect(lines).toEqual([
      'imgbuild-select: slot=B demoted: its last 3 boots never became healthy',
      'imgbuild-select: no healthy slot (A: priority=2 tries=0 successful=1 attempts=demoted; B: priority=1 tries=0 successful=1 attempts=demoted); trying the least bad: A',
      'imgbuild-select: slot=A partition=3 priority=2 tries=0 successful=1 attempts=demoted',
    ]);
    expect(cli).toMatchObject({ slot: 'A', pick: 'least-bad' });
  });

  it('when both copies are damaged it says so and writes nothing', async () => {
    const path = await image({ A: undefined, B: undefined });
    const size = imageSize(path);
    await poke(path, 512 + 40, 0x77);
    await poke(path, size - 512 + 40, 0x77);
    const before = gptRegions(path);
    const r = await selectHost([path, '--write']);
    expect(r.exitCode).toBe(3);
    expect(r.stdout).toBe('imgbuild-select: no valid GPT (primary: header CRC; backup: header CRC); powering off');
    expect(gptRegions(path).equals(before)).toBe(true);
  });

  it('4096-byte sectors: the same decision and bytes as the CLI', async () => {
    const layout = join(dir, 'mini-4k.json');
    writeFileSync(
      layout,
      JSON.stringify({
        name: 'mini-4k',
        sectorSize: 4096,
        alignment: '1MiB',
        diskSize: 'auto',
        partitions: [
          { number: 1, label: 'EFI-SYSTEM', type: 'efi', size: '64MiB', role: 'esp' },
          { number: 3, label: 'USR-A', type: 'flatcar-usr', size: '16MiB', role: 'usr-slot', attributes: { priority: 1, successful: true } },
          { number: 4, label: 'USR-B', type: 'flatcar-usr', size: '16MiB', role: 'usr-slot' },
          { number: 9, label: 'ROOT', type: 'flatcar-resize', size: '8MiB', role: 'root' },
        ],
      }),
    );
    const path = await image({ A: undefined, B: ['--priority', '3', '--tries', '2'] }, layout);
    await poke(path, 4096 + 40, 0x77);
    const { lines, cli } = await bothWays(path);
    expect(lines).toEqual([
      'imgbuild-select: primary GPT damaged (header CRC), repaired from backup',
      'imgbuild-select: slot=B partition=4 priority=3 tries=2->1 successful=0 attempts=0->1',
    ]);
    expect(cli.slot).toBe('B');
  });
});
