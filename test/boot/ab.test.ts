/**
 * Boot tests: real images from `imgbuild build`/`imgbuild update` booted under qemu (TCG, OVMF, the
 * image's own ESP: the UEFI slot selector, then the chosen slot's own UKI) with the boot kit's Debian
 * kernel and initramfs. Twelve boots of ≈ 10-20 s each, one of them booting twice.
 *
 * One image walks the whole A/B story in order (build → boot A → update v2 → boot B → update v3 with a
 * failing health check → boot A unmarked → fallback to B); copies of it at the right moments serve the
 * corruption, wrong-hash, rollback, kernel A/B, missing-UKI, damaged-GPT and torn-write cases. The selector is
 * the only one that chooses: its console line is checked next to the initramfs's marker.
 */
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { imgbuild, tempDir } from '../helpers.js';
import { boot, bootKit, durations, env, flipFileByte, onEsp, panickingInitrd, readManifest, rewriteEsp, slotStatus, usrImage, type Kit } from './boot.js';
import { tool } from '../helpers.js';
import { closeSync, openSync, writeSync } from 'node:fs';
import { encodeTable, FileStorage, getBootBits, readGpt, setBootBits } from '../../packages/core/src/public/gpt.js';
import { cloneTable } from '../../packages/core/src/gpt/table.js';

const dir = tempDir('imgbuild-boot-');
const img = join(dir, 'disk.raw');
let kit: Kit;
let v1: { path: string; tag: Buffer };
let v2: { path: string; tag: Buffer };
let v3: { path: string; tag: Buffer };
let v0: { path: string; tag: Buffer }; // no health check shipped

/** Which GPT copy our reader trusts, and whether the other needs repair. */
async function gptState(img: string) {
  const st = await FileStorage.open(img);
  try {
    const r = await readGpt(st);
    return { source: r.source, needsRepair: r.needsRepair };
  } finally {
    await st.close();
  }
}

const cp = (from: string, to: string) => execa('cp', ['--sparse=always', from, to]).then(() => execa('cp', [`${from}.manifest.json`, `${to}.manifest.json`]));

beforeAll(async () => {
  kit = await bootKit();
  v1 = await usrImage(dir, '1', 0);
  v2 = await usrImage(dir, '2', 0);
  v3 = await usrImage(dir, '3', 1);
  v0 = await usrImage(dir, '0', null);
  const r = await imgbuild(['build', '--from', v1.path, '--kernel', kit.kernel, '--initrd', kit.initrd, '--layout', 'mini', '-o', img, '--seed', 'boot-test'], { env });
  expect(r.exitCode, String(r.stderr)).toBe(0);
}, 900_000);

afterAll(() => {
  if (durations.length) console.log(`boot durations (s): ${durations.map((d) => (d / 1000).toFixed(1)).join(' ')}`);
});

describe('boot', { timeout: 600_000 }, () => {
  it('1. a fresh image boots slot A with the root hash of its manifest and marks it good', async () => {
    const m = readManifest(img);
    // copies for the corruption and wrong-hash cases, before the first boot touches the bits
    await cp(img, join(dir, 'corrupt.raw'));
    await cp(img, join(dir, 'wronghash.raw'));
    await cp(img, join(dir, 'gpt-damaged.raw'));
    const { json, exitCode } = await boot(img, 'fresh');
    expect(json.failure).toBeNull();
    expect(json.selector.choices).toEqual([{ slot: 'A', partition: 3, priority: 1, triesBefore: 0, triesAfter: 0, successful: true, attemptsBefore: 0, attemptsAfter: 1 }]);
    expect(json).toMatchObject({ slot: 'A', usrhash: m.slots.A.rootHash, version: '1', health: 'ok' });
    expect(exitCode).toBe(0);
    const st = await slotStatus(img);
    expect(st.A).toMatchObject({ priority: 1, tries: 0, successful: true });
    expect(st.next).toBe('A');
  });

  it('2. one flipped byte inside a file of USR-A is caught by dm-verity: no healthy boot', async () => {
    const bad = join(dir, 'corrupt.raw');
    flipFileByte(bad, readManifest(bad), 'USR-A', v1.tag);
    const { json, exitCode, log } = await boot(bad, 'corrupt');
    expect(json.health).not.toBe('ok');
    expect(json.failure?.reason).toBe('read-error');
    expect(log).toMatch(/verity: .*data block \d+ is corrupted/);
    expect(exitCode).not.toBe(0);
  });

  it('3. a wrong root hash on the command line: slot A does not boot', async () => {
    const bad = join(dir, 'wronghash.raw');
    const m = readManifest(bad);
    const good = m.slots.A.rootHash;
    const wrong = good.slice(0, 10) + (good[10] === '0' ? '1' : '0') + good.slice(11);
    const files = await rewriteEsp(bad, m, good, wrong);
    expect(files.length).toBeGreaterThan(0);
    const { json, exitCode, log } = await boot(bad, 'wronghash');
    expect(json.slot).toBeNull();
    expect(json.failure?.reason).toMatch(/^(mount|verity-open|read-error)$/);
    expect(log).toMatch(/verity: .*(metadata|data) block \d+ is corrupted/);
    expect(exitCode).not.toBe(0);
  });

  it('4. update with v2: the next boot runs B, reports v2 and marks B successful', async () => {
    const u = await imgbuild(['update', img, '--from', v2.path], { env });
    expect(u.exitCode, String(u.stderr)).toBe(0);
    const m = readManifest(img);
    const before = await slotStatus(img);
    expect(before.B).toMatchObject({ priority: 2, tries: 1, successful: false });
    await cp(img, join(dir, 'uki-missing.raw'));
    await cp(img, join(dir, 'torn.raw'));
    const { json, exitCode } = await boot(img, 'v2');
    expect(json.selector.choices).toEqual([{ slot: 'B', partition: 4, priority: 2, triesBefore: 1, triesAfter: 0, successful: false, attemptsBefore: 0, attemptsAfter: 1 }]);
    expect(json).toMatchObject({ slot: 'B', version: '2', health: 'ok', usrhash: m.slots.B.rootHash });
    expect(exitCode).toBe(0);
    const st = await slotStatus(img);
    expect(st.B).toMatchObject({ priority: 2, tries: 0, successful: true });
    expect(st.A).toMatchObject({ priority: 1, successful: true });
    expect(st.next).toBe('B');
    await cp(img, join(dir, 'rollback.raw'));
    await cp(img, join(dir, 'kernel-ab.raw'));
  });

  it('5. update with a v3 whose health check fails: A runs v3 unmarked, the next boot falls back to B', async () => {
    const u = await imgbuild(['update', img, '--from', v3.path], { env });
    expect(u.exitCode, String(u.stderr)).toBe(0);
    const first = await boot(img, 'v3');
    expect(first.json).toMatchObject({ slot: 'A', version: '3', health: 'fail' });
    expect(first.exitCode).not.toBe(0);
    expect(first.log).toContain('health check of 3: exit 1');
    const st = await slotStatus(img);
    // why it will not boot again: tries used up, never marked successful
    expect(st.A).toMatchObject({ tries: 0, successful: false, canBoot: false });
    expect(st.B).toMatchObject({ successful: true, canBoot: true });
    expect(st.next).toBe('B');
    const second = await boot(img, 'fallback');
    expect(second.json).toMatchObject({ slot: 'B', version: '2', health: 'ok' });
    expect(second.exitCode).toBe(0);
    const after = await slotStatus(img);
    expect(after.next).toBe('B');
    expect(after.A.successful).toBe(false);
  });

  it('6. slot rollback: the next boot runs the other slot', async () => {
    const rb = join(dir, 'rollback.raw'); // B (v2) running and good, A (v1) good
    const r = await imgbuild(['slot', 'rollback', rb, '--json']);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect((await slotStatus(rb)).next).toBe('A');
    const { json, exitCode } = await boot(rb, 'rollback');
    expect(json).toMatchObject({ slot: 'A', version: '1', health: 'ok' });
    expect(exitCode).toBe(0);
    const st = await slotStatus(rb);
    expect(st.A).toMatchObject({ priority: 2, successful: true });
    expect(st.B).toMatchObject({ priority: 1, successful: true });
  });

  it('7. a qemu_uefi bundle boots from its folder, with a fresh copy of its vars file; no health check shipped → none', async () => {
    const out = join(dir, 'bundle');
    const r = await imgbuild(['build', '--from', v0.path, '--kernel', kit.kernel, '--initrd', kit.initrd, '--layout', 'mini', '--format', 'qemu_uefi', '-o', out, '--seed', 'boot-test'], { env });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const vars = readdirSync(out).find((f) => f.endsWith('_efi_vars.fd'))!;
    const before = readFileSync(join(out, vars));
    const { json, exitCode } = await boot(out, 'bundle');
    const manifest = readdirSync(out).find((f) => f.endsWith('.manifest.json'))!;
    const m = JSON.parse(readFileSync(join(out, manifest), 'utf8')) as { slots: { A: { rootHash: string } } };
    expect(json).toMatchObject({ slot: 'A', version: '0', health: 'none', usrhash: m.slots.A.rootHash });
    expect(exitCode).toBe(0);
    expect(readFileSync(join(out, vars)).equals(before)).toBe(true);
  });

  it('8. kernel A/B: B gets an initrd that panics; in one run the selector starts B, the machine resets, the selector starts A', async () => {
    const k = join(dir, 'kernel-ab.raw'); // A (v1) and B (v2) both good, B running
    const bad = await panickingInitrd(dir);
    // slot A is the inactive one now: it gets v3's /usr and the broken initrd
    const u = await imgbuild(['update', k, '--from', v1.path, '--kernel', kit.kernel, '--initrd', bad], { env });
    expect(u.exitCode, String(u.stderr)).toBe(0);
    expect((await slotStatus(k)).next).toBe('A');
    const { json, exitCode, log } = await boot(k, 'kernel-ab', { allowReset: true, timeoutS: 240 });
    expect(json.selector.choices.map((c) => `${c.slot}:${c.triesBefore}->${c.triesAfter}`)).toEqual(['A:1->0', 'B:0->0']);
    // the order on the console: the selector starts A, A's kernel panics, the selector starts B, B's marker
    const at = (re: RegExp) => log.search(re);
    const chooseA = at(/imgbuild-select: slot=A /);
    const panic = at(/Kernel panic - not syncing/);
    const chooseB = at(/imgbuild-select: slot=B /);
    expect(chooseA).toBeGreaterThanOrEqual(0);
    expect(panic).toBeGreaterThan(chooseA);
    expect(chooseB).toBeGreaterThan(panic);
    expect(log.slice(chooseB)).toMatch(/Command line: .*imgbuild\.slot=B/);
    expect(json).toMatchObject({ slot: 'B', version: '2', health: 'ok' });
    expect(exitCode).toBe(0);
    const st = await slotStatus(k);
    expect(st.A).toMatchObject({ tries: 0, successful: false, canBoot: false });
    expect(st.next).toBe('B');
  });

  it("9. B's UKI deleted from the ESP: the selector says why, gives B up and starts A in the same boot", async () => {
    const u2 = join(dir, 'uki-missing.raw'); // v2 written to B, not booted yet
    const m = readManifest(u2);
    await onEsp(u2, m, 'mdel', [`::${m.boot.slots.B.uki}`]);
    const { json, exitCode } = await boot(u2, 'uki-missing');
    const refused = json.selector.lines.find((l) => /^slot=B cannot boot/.test(l));
    expect(refused, json.selector.lines.join('\n')).toMatch(/imgbuild-usr-b\.efi/i);
    expect(json.selector.choices.at(-1)).toMatchObject({ slot: 'A' });
    expect(json).toMatchObject({ slot: 'A', version: '1', health: 'ok' });
    expect(exitCode).toBe(0);
    const st = await slotStatus(u2);
    expect(st.B).toMatchObject({ tries: 0, successful: false, canBoot: false });
  });

  it('10. primary GPT header damaged: the boot repairs it from the backup (OVMF already does, before the selector) and sgdisk -v is clean after', async () => {
    const g = join(dir, 'gpt-damaged.raw'); // fresh image, never booted
    const fd = openSync(g, 'r+');
    writeSync(fd, Buffer.from('XXXX'), 0, 4, 512 + 16); // into the header CRC field of LBA 1
    closeSync(fd);
    expect(await gptState(g)).toEqual({ source: 'backup', needsRepair: true });
    const { json, exitCode } = await boot(g, 'gpt-damaged');
    expect(json).toMatchObject({ slot: 'A', version: '1', health: 'ok' });
    expect(exitCode).toBe(0);
    expect(await gptState(g)).toEqual({ source: 'primary', needsRepair: false });
    expect(String((await tool('sgdisk', ['-v', g])).stdout)).toMatch(/No problems found/);
  });

  it("11. a torn GPT write (backup newer than primary, both valid): the selector repairs from the primary and boots B with its try", async () => {
    const t = join(dir, 'torn.raw'); // v2 written to B (priority 2, tries 1), not booted yet
    const storage = await FileStorage.open(t, true);
    try {
      const { table } = await readGpt(storage);
      // what an interrupted selector leaves: the backup already says B's try is used up
      const torn = cloneTable(table);
      const b = torn.entries[3];
      b.attributes = setBootBits(b.attributes, { ...getBootBits(b.attributes), tries: 0 });
      const enc = encodeTable(torn);
      await storage.writeAt(enc.backupArrayLba * table.sectorSize, enc.array);
      await storage.writeAt(enc.backupHeaderLba * table.sectorSize, enc.backupHeader);
    } finally {
      await storage.close();
    }
    const { json, exitCode } = await boot(t, 'torn');
    expect(json.selector.lines[0]).toMatch(/^backup GPT differs from primary .*repaired from primary/);
    expect(json.selector.choices).toEqual([{ slot: 'B', partition: 4, priority: 2, triesBefore: 1, triesAfter: 0, successful: false, attemptsBefore: 0, attemptsAfter: 1 }]);
    expect(json).toMatchObject({ slot: 'B', version: '2', health: 'ok' });
    expect(exitCode).toBe(0);
    expect(String((await tool('sgdisk', ['-v', t])).stdout)).toMatch(/No problems found/);
  });
});
