/**
 * Issue #9: the slot verbs never leave an image that cannot boot, and say what they did.
 *  - prioritize, mark-successful and set refuse to make a slot boot that holds no /usr (no verity
 *    superblock at its hash offset; or no root hash for it in the manifest beside the image), unless
 *    --force;
 *  - prioritize makes the slot boot next or refuses, naming its bits and the verbs that would help;
 *  - slot status says when the GPT was read from its backup copy and needs `imgbuild gpt repair`.
 * Needs a build (`npm run build`): it runs packages/cli/dist.
 */
import { randomBytes } from 'node:crypto';
import { cpSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { slotHashOffset } from '../packages/core/src/verity/slot-area.js';
import { fakeBzImage, imgbuild, ROOT, tempDir, tool, copyOfImage } from './helpers.js';

const dir = tempDir('imgbuild-slot-safety-');
const built = join(dir, 'built.raw');

beforeAll(async () => {
  const kernel = join(dir, 'vmlinuz');
  const initrd = join(dir, 'initrd.img');
  const usr = join(dir, 'usr.squashfs');
  writeFileSync(kernel, fakeBzImage());
  writeFileSync(initrd, randomBytes(100_000));
  const tree = join(dir, 'usrtree');
  cpSync(join(ROOT, 'examples/usr'), tree, { recursive: true });
  await tool('mksquashfs', [tree, usr, '-noappend', '-all-root', '-quiet']);
  const r = await imgbuild(['build', '--from', usr, '--kernel', kernel, '--initrd', initrd, '--layout', 'mini', '--seed', 's', '-o', built], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
  expect(r.exitCode, String(r.stderr)).toBe(0);
});

/** A copy of the freshly built image (A filled and booting, B empty) with its manifest. */
function copyOfBuilt(): string {
  return copyOfImage(built, dir);
}

async function slotB(): Promise<{ offsetBytes: number; sizeBytes: number }> {
  const plan = JSON.parse(String((await imgbuild(['layout', 'show', 'mini', '--json'])).stdout)) as { partitions: { label: string; offsetBytes: number; sizeBytes: number }[] };
  return plan.partitions.find((p) => p.label === 'USR-B')!;
}

/** Puts a verity superblock (one data block) at B's hash offset, as a leftover or a hand-made tree would. */
async function superblockIntoB(img: string): Promise<void> {
  const b = await slotB();
  const r = await imgbuild(['verity', 'format', img, '--data-offset', String(b.offsetBytes), '--data-blocks', '1', '--hash-offset', String(b.offsetBytes + slotHashOffset(b.sizeBytes)), '--force']);
  expect(r.exitCode, String(r.stderr)).toBe(0);
}

async function status(img: string) {
  const r = await imgbuild(['slot', 'status', img, '--json']);
  expect(r.exitCode, String(r.stderr)).toBe(0);
  return JSON.parse(String(r.stdout)) as {
    next: string | null;
    slots: { slot: string; priority: number; tries: number; successful: boolean }[];
    gpt: { source: string; needsRepair: boolean; problems: string[] };
  };
}

const head = (img: string) => readFileSync(img).subarray(0, 64 * 1024);

describe('an empty slot B of a freshly built image', () => {
  const refusals: [string, string[], RegExp][] = [
    ['mark-successful', ['slot', 'mark-successful', '<img>', 'B'], /cannot mark successful slot B \(USR-B, partition 4\): it holds no \/usr \(no verity superblock/],
    ['prioritize', ['slot', 'prioritize', '<img>', 'B'], /cannot prioritize slot B .*holds no \/usr/],
    ['set', ['slot', 'set', '<img>', 'B', '--priority', '2', '--tries', '1'], /cannot make bootable slot B .*holds no \/usr/],
  ];
  it.each(refusals)('%s is refused (exit 1, names the slot and why) and writes nothing', async (_name, args, msg) => {
    const img = copyOfBuilt();
    const before = head(img);
    const r = await imgbuild(args.map((a) => (a === '<img>' ? img : a)));
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr).trim().split('\n')).toHaveLength(1);
    expect(String(r.stderr)).toMatch(msg);
    expect(String(r.stderr)).toContain('--force');
    expect(head(img).equals(before)).toBe(true);
    expect((await status(img)).next).toBe('A');
  });

  it.each(refusals)('%s is allowed with --force', async (_name, args) => {
    const img = copyOfBuilt();
    const r = await imgbuild([...args.map((a) => (a === '<img>' ? img : a)), '--force']);
    expect(r.exitCode, String(r.stderr)).toBe(0);
  });

  it('set may still make it unbootable', async () => {
    const img = copyOfBuilt();
    expect((await imgbuild(['slot', 'set', img, 'B', '--priority', '0'])).exitCode).toBe(0);
  });

  it('a superblock without a root hash in the manifest beside the image still counts as empty', async () => {
    const img = copyOfBuilt();
    await superblockIntoB(img);
    const r = await imgbuild(['slot', 'mark-successful', img, 'B']);
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr)).toMatch(/holds no \/usr \(no root hash for it in .*img\d+\.raw\.manifest\.json\)/);
    // without the manifest, the superblock is the evidence
    renameSync(`${img}.manifest.json`, `${img}.manifest.json.away`);
    const ok = await imgbuild(['slot', 'mark-successful', img, 'B']);
    expect(ok.exitCode, String(ok.stderr)).toBe(0);
    expect((await status(img)).next).toBe('B');
  });
});

describe('prioritize makes the slot boot next, or refuses', () => {
  async function filledB(): Promise<string> {
    const img = copyOfBuilt();
    await superblockIntoB(img);
    renameSync(`${img}.manifest.json`, `${img}.manifest.json.away`);
    return img;
  }

  it('refuses a slot that cannot boot (tries 0, successful 0), naming its bits and what to do', async () => {
    const img = await filledB();
    const r = await imgbuild(['slot', 'prioritize', img, 'B']);
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr)).toMatch(/cannot make slot B boot next: it cannot boot \(priority 0, tries 0, successful 0; needs tries > 0 or successful 1\); use imgbuild slot upgrade B/);
    expect((await status(img)).next).toBe('A');
  });

  it('a bootable slot boots next, as printed', async () => {
    const img = await filledB();
    expect((await imgbuild(['slot', 'set', img, 'B', '--tries', '2'])).exitCode).toBe(0);
    const r = await imgbuild(['slot', 'prioritize', img, 'B']);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(String(r.stdout)).toMatch(/next boot: B$/);
    expect((await status(img)).next).toBe('B');
  });

  it('--force is cgpt prioritize: B gets the top priority, and the output says why A still boots', async () => {
    const img = await filledB();
    const r = await imgbuild(['slot', 'prioritize', img, 'B', '--force']);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(String(r.stdout)).toMatch(/next boot: A\nnote: B is not next: it cannot boot \(priority 2, tries 0, successful 0\)/);
  });

  it('--help says what it refuses', async () => {
    const help = String((await imgbuild(['slot', 'prioritize', '--help'])).stdout).replace(/\s+/g, ' ');
    expect(help).toMatch(/Refused when the slot holds no \/usr, or cannot boot/);
  });
});

describe('slot status on an image whose primary GPT is damaged', () => {
  it('says the backup was read and gpt repair is needed, in text and JSON', async () => {
    const img = copyOfBuilt();
    const buf = readFileSync(img);
    buf.write('XXXXXXXX', 512, 'latin1'); // the primary header's signature
    writeFileSync(img, buf);
    const t = await imgbuild(['slot', 'status', img]);
    expect(t.exitCode, String(t.stderr)).toBe(0);
    expect(String(t.stdout)).toMatch(/GPT read from the backup copy; run imgbuild gpt repair .*img\d+\.raw \(primary GPT header: /);
    const j = await status(img);
    expect(j.gpt.source).toBe('backup');
    expect(j.gpt.needsRepair).toBe(true);
    expect(j.gpt.problems.join(' ')).toMatch(/primary GPT header/);
    expect(j.next).toBe('A');
    // an intact image says nothing extra, and its JSON says so
    const clean = copyOfBuilt();
    expect(String((await imgbuild(['slot', 'status', clean])).stdout)).not.toMatch(/backup|repair/);
    expect((await status(clean)).gpt).toEqual({ source: 'primary', needsRepair: false, copiesDiffer: false, primaryError: null, backupError: null, mbrError: null, problems: [] });
  });
});
