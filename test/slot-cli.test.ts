/**
 * `imgbuild slot ...` end to end on real image files: the update/boot/rollback scenarios, output
 * shapes, and exit codes (1 failed precondition, 2 usage) with one error line naming the file.
 * Needs a build (`npm run build`): it runs packages/cli/dist.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { slotHashOffset } from '../packages/core/src/verity/slot-area.js';
import { imgbuild, tempDir, tool } from './helpers.js';

const dir = tempDir('imgbuild-slot-cli-');
let n = 0;

/**
 * A bare GPT image whose two slots each hold a verity superblock (one data block, tree at the slot's
 * hash offset), so the slot verbs take them as holding a /usr, as in a built and updated image.
 */
async function freshImage(opts: { fill?: boolean } = {}): Promise<string> {
  const image = join(dir, `s${n++}.img`);
  const r = await imgbuild(['gpt', 'create', '--layout', 'mini', '-o', image]);
  expect(r.exitCode, r.stderr as string).toBe(0);
  if (opts.fill === false) return image;
  for (const p of (await miniSlots())) {
    const f = await imgbuild(['verity', 'format', image, '--data-offset', String(p.offsetBytes), '--data-blocks', '1', '--hash-offset', String(p.offsetBytes + slotHashOffset(p.sizeBytes)), '--force', '--salt', '-']);
    expect(f.exitCode, f.stderr as string).toBe(0);
  }
  return image;
}

let slotsOfMini: { offsetBytes: number; sizeBytes: number }[] | undefined;
async function miniSlots() {
  if (!slotsOfMini) {
    const plan = JSON.parse(String((await imgbuild(['layout', 'show', 'mini', '--json'])).stdout)) as { partitions: { role: string; offsetBytes: number; sizeBytes: number }[] };
    slotsOfMini = plan.partitions.filter((p) => p.role === 'usr-slot');
  }
  return slotsOfMini;
}

interface SlotJson {
  slot: 'A' | 'B';
  number: number;
  label: string;
  uuid: string;
  priority: number;
  tries: number;
  successful: boolean;
  canBoot: boolean;
}

async function status(image: string): Promise<{ next: 'A' | 'B' | null; slots: SlotJson[] }> {
  const r = await imgbuild(['slot', 'status', image, '--json']);
  expect(r.exitCode, r.stderr as string).toBe(0);
  return JSON.parse(r.stdout as string);
}

const bitsOf = (st: { slots: SlotJson[] }, slot: 'A' | 'B') => {
  const s = st.slots.find((x) => x.slot === slot)!;
  return [s.priority, s.tries, s.successful ? 1 : 0];
};

async function ok(args: string[]) {
  const r = await imgbuild(args);
  expect(r.exitCode, `imgbuild ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r;
}

async function bootNext(image: string, extra: string[] = []): Promise<string> {
  const r = await ok(['slot', 'next', image, ...extra]);
  return (r.stdout as string).trim();
}

describe('imgbuild slot: scenarios', () => {
  it('fresh image: A boots; status lists both slots', async () => {
    const image = await freshImage();
    const st = await status(image);
    expect(st.next).toBe('A');
    expect(st.slots.map((s) => [s.slot, s.number, s.label])).toEqual([
      ['A', 3, 'USR-A'],
      ['B', 4, 'USR-B'],
    ]);
    expect(st.slots[0]).toMatchObject({ priority: 1, tries: 0, successful: true, canBoot: true, uuid: '7130c94a-213a-4e5a-8e26-6cce9662f132' });
    expect(st.slots[1]).toMatchObject({ priority: 0, tries: 0, successful: false, canBoot: false });
    expect(await bootNext(image)).toBe('A');
    const text = await ok(['slot', 'status', image]);
    expect(text.stdout).toMatch(/next boot: A/);
  });

  it('an upgrade that is never marked successful boots once, then falls back to A', async () => {
    const image = await freshImage();
    await ok(['slot', 'upgrade', image, 'B']);
    const st = await status(image);
    expect(bitsOf(st, 'B')).toEqual([2, 1, 0]);
    expect(bitsOf(st, 'A')).toEqual([1, 0, 1]);
    expect(st.next).toBe('B');

    const first = await ok(['slot', 'next', image, '--json']);
    const j = JSON.parse(first.stdout as string);
    expect(j).toMatchObject({ slot: 'B', number: 4, label: 'USR-B', changed: true });
    expect(bitsOf(j.after, 'B')).toEqual([2, 0, 0]);
    expect(bitsOf(await status(image), 'B')).toEqual([2, 0, 0]);

    expect(await bootNext(image)).toBe('A');
    expect(await bootNext(image)).toBe('A');
    expect(bitsOf(await status(image), 'B')).toEqual([2, 0, 0]); // skipped, priority left as it was
  });

  it('an upgrade marked successful keeps booting', async () => {
    const image = await freshImage();
    await ok(['slot', 'upgrade', image, 'USR-B']);
    expect(await bootNext(image)).toBe('B');
    await ok(['slot', 'mark-successful', image, 'b']);
    expect(bitsOf(await status(image), 'B')).toEqual([2, 0, 1]);
    for (let i = 0; i < 3; i++) expect(await bootNext(image)).toBe('B');
    // and the next update goes to A
    const up = await ok(['slot', 'upgrade', image, '3', '--json']);
    const j = JSON.parse(up.stdout as string);
    expect(j).toMatchObject({ action: 'upgrade', slot: 'A', changed: true });
    expect(bitsOf(j.after, 'A')).toEqual([2, 1, 0]);
    expect(bitsOf(j.after, 'B')).toEqual([1, 0, 1]);
  });

  it('rollback and cancel-upgrade', async () => {
    const image = await freshImage();
    await ok(['slot', 'upgrade', image, 'B']);
    await ok(['slot', 'cancel-upgrade', image]);
    let st = await status(image);
    expect(st.next).toBe('A');
    expect(bitsOf(st, 'B')).toEqual([0, 0, 0]);

    await ok(['slot', 'upgrade', image, 'B']);
    await bootNext(image);
    await ok(['slot', 'mark-successful', image, 'B']);
    const rb = await ok(['slot', 'rollback', image, '--json']);
    expect(JSON.parse(rb.stdout as string)).toMatchObject({ action: 'rollback to', slot: 'A' });
    st = await status(image);
    expect(st.next).toBe('A');
    expect(bitsOf(st, 'A')).toEqual([2, 0, 1]);
    expect(bitsOf(st, 'B')).toEqual([1, 0, 1]);
    expect(await bootNext(image)).toBe('A');
  });

  it('ChromeOS variant: the last try zeroes the priority', async () => {
    const image = await freshImage();
    await ok(['slot', 'upgrade', image, 'B']);
    expect(await bootNext(image, ['--variant', 'chromeos'])).toBe('B');
    expect(bitsOf(await status(image), 'B')).toEqual([0, 0, 0]);
    expect(await bootNext(image, ['--variant', 'chromeos'])).toBe('A');
  });

  it('prioritize and set, read back by cgpt', async () => {
    const image = await freshImage();
    await ok(['slot', 'set', image, 'B', '--priority', '5', '--tries', '3']);
    expect(bitsOf(await status(image), 'B')).toEqual([5, 3, 0]);
    await ok(['slot', 'set', image, 'B', '--successful', '1']);
    await ok(['slot', 'prioritize', image, 'A']);
    const st = await status(image);
    expect(bitsOf(st, 'A')).toEqual([2, 0, 1]);
    expect(bitsOf(st, 'B')).toEqual([1, 3, 1]);
    for (const [part, flag, want] of [
      [3, '-P', '2'],
      [4, '-P', '1'],
      [4, '-T', '3'],
      [4, '-S', '1'],
    ] as const) {
      expect(String((await tool('cgpt', ['show', '-i', String(part), flag, image])).stdout).trim()).toBe(want);
    }
  });
});

describe('imgbuild slot: errors', () => {
  function oneLine(stderr: unknown, image: string, problem: RegExp) {
    const lines = String(stderr).trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(image);
    expect(lines[0]).toMatch(problem);
  }

  it('refusing to upgrade the active successful slot exits 1 and changes nothing', async () => {
    const image = await freshImage();
    const before = await status(image);
    const r = await imgbuild(['slot', 'upgrade', image, 'A']);
    expect(r.exitCode).toBe(1);
    oneLine(r.stderr, image, /cannot upgrade slot A: it is the active successful slot.*priority 1, tries 0, successful 1/);
    expect(await status(image)).toEqual(before);
  });

  it('failed preconditions exit 1: rollback to an empty slot, cancel without an upgrade', async () => {
    const image = await freshImage();
    let r = await imgbuild(['slot', 'rollback', image]);
    expect(r.exitCode).toBe(1);
    oneLine(r.stderr, image, /cannot roll back to slot B: it cannot boot/);
    r = await imgbuild(['slot', 'cancel-upgrade', image]);
    expect(r.exitCode).toBe(1);
    oneLine(r.stderr, image, /no pending upgrade/);
  });

  it('next starts the least bad slot when nothing can boot by the rules, as the selector does', async () => {
    const image = await freshImage();
    await ok(['slot', 'set', image, 'A', '--priority', '0']);
    const r = await imgbuild(['slot', 'next', image, '--json']);
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout as string)).toMatchObject({ slot: 'A', pick: 'least-bad', changed: true });
    const t = await imgbuild(['slot', 'next', image]);
    expect(t.stdout).toBe('A');
    expect(String(t.stderr)).toMatch(/no slot can boot by the rules; the selector starts the least bad/);
  });

  it('next under ChromeOS rules exits 1 when nothing can boot, still printing {"slot": null} with --json', async () => {
    const image = await freshImage();
    await ok(['slot', 'set', image, 'A', '--priority', '0']);
    const r = await imgbuild(['slot', 'next', image, '--json', '--variant', 'chromeos']);
    expect(r.exitCode).toBe(1);
    expect(JSON.parse(r.stdout as string)).toMatchObject({ slot: null, changed: false });
    oneLine(r.stderr, image, /no slot can boot/);
  });

  it('status names a demoted slot and why; set --attempts 0 clears it', async () => {
    const image = await freshImage();
    await ok(['slot', 'set', image, 'A', '--attempts', '3']);
    await ok(['slot', 'next', image]); // the selector's rules: A reached 3 and is demoted
    const st = await status(image);
    expect(st.slots[0]).toMatchObject({ slot: 'A', attempts: 7, demoted: true });
    const text = await ok(['slot', 'status', image]);
    expect(text.stdout).toMatch(/slot A demoted by the selector: its last boots never became healthy/);
    await ok(['slot', 'set', image, 'A', '--attempts', '0']);
    expect((await status(image)).slots[0]).toMatchObject({ attempts: 0, demoted: false });
  });

  it('usage errors exit 2', async () => {
    const image = await freshImage();
    const cases: [string[], RegExp][] = [
      [['slot', 'prioritize', image, 'C'], /unknown slot "C"/],
      [['slot', 'upgrade', image, '1'], /unknown slot "1"/],
      [['slot', 'set', image, 'A'], /nothing to set/],
    ];
    for (const [args, msg] of cases) {
      const r = await imgbuild(args);
      expect(r.exitCode, args.join(' ')).toBe(2);
      oneLine(r.stderr, image, msg);
    }
    // A bad flag value is refused while parsing, before the image is opened: the line names the flag.
    const flags: [string[], string][] = [
      [['--priority', '16'], 'imgbuild: --priority must be an integer 0-15, got "16"'],
      [['--tries', 'x'], 'imgbuild: --tries must be an integer 0-15, got "x"'],
      [['--successful', '2'], 'imgbuild: --successful must be 0 or 1, got "2"'],
    ];
    for (const [args, line] of flags) {
      const r = await imgbuild(['slot', 'set', image, 'A', ...args]);
      expect(r.exitCode, args.join(' ')).toBe(2);
      expect(String(r.stderr)).toBe(line);
    }
    const v = await imgbuild(['slot', 'next', image, '--variant', 'grub']);
    expect(v.exitCode).toBe(2);
  });

  it('a missing file or a file without a GPT exits 1 naming the file', async () => {
    const missing = join(dir, 'missing.img');
    let r = await imgbuild(['slot', 'status', missing]);
    expect(r.exitCode).toBe(1);
    oneLine(r.stderr, missing, /no such file/);
    const blank = join(dir, 'blank.img');
    await tool('truncate', ['-s', '1M', blank]);
    r = await imgbuild(['slot', 'upgrade', blank, 'B']);
    expect(r.exitCode).toBe(1);
    oneLine(r.stderr, blank, /GPT/);
  });
});
