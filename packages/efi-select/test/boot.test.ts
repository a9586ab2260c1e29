/**
 * One boot in qemu + OVMF (TCG): the selector as EFI/BOOT/BOOTX64.EFI, slot A's UKI in place, slot B
 * upgraded (priority 2, tries 1) but without a UKI. The selector must choose B and use its try, say
 * why B cannot boot and take its tries, fall back to A in the same run, and A must reach the boot
 * marker. Uses the test boot kit (hack/bootkit.sh, cached; BOOTKIT_CACHE is honoured).
 */
import { runQemu, replaceEspFiles, readEspFile } from '@imgbuild/core';
import { selectorEfiPath, SELECTOR_ESP_PATH, UKI_ESP_PATHS } from '@imgbuild/efi-select';
import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { imgbuild, needBuild, ROOT, tempDir } from './helpers.js';

needBuild();
const dir = tempDir('efi-select-boot-');
const SDE = 1700000000;

async function kit(): Promise<{ kernel: string; initrd: string }> {
  const r = await execa('bash', [join(ROOT, 'hack/bootkit.sh')], { timeout: 900_000 });
  const lines = String(r.stdout).trim().split('\n');
  return { kernel: lines.at(-2)!.replace(/^kernel=/, ''), initrd: lines.at(-1)!.replace(/^initrd=/, '') };
}

async function espOffset(image: string): Promise<number> {
  const r = await imgbuild(['gpt', 'show', image, '--json']);
  const gpt = JSON.parse(r.stdout as string) as { sectorSize: number; partitions: { number: number; firstLba: number }[] };
  return gpt.partitions.find((p) => p.number === 1)!.firstLba * gpt.sectorSize;
}

describe('the selector in firmware', () => {
  it('falls back from a slot without a UKI to slot A in the same boot', { timeout: 900_000 }, async () => {
    const { kernel, initrd } = await kit();
    const image = join(dir, 'efi.img');
    const b = await imgbuild(['build', '--from-dir', join(ROOT, 'examples/usr'), '--kernel', kernel, '--initrd', initrd, '--layout', 'mini', '-o', image]);
    expect(b.exitCode, b.stderr as string).toBe(0);

    const offset = await espOffset(image);
    const uki = await readEspFile(image, offset, SELECTOR_ESP_PATH);
    await replaceEspFiles(image, offset, [
      { path: SELECTOR_ESP_PATH, data: readFileSync(selectorEfiPath()) },
      { path: UKI_ESP_PATHS.A, data: uki },
    ], SDE);
    const set = await imgbuild(['slot', 'set', image, 'B', '--priority', '2', '--tries', '1']);
    expect(set.exitCode, set.stderr as string).toBe(0);

    const r = await runQemu({ image, timeoutMs: 240_000, logPath: join(dir, 'serial.log') });
    const lines = r.log.split(/\r*\n/).filter((l) => l.startsWith('imgbuild-select: '));
    expect(lines, r.log.slice(-3000)).toEqual([
      'imgbuild-select: slot=B partition=4 priority=2 tries=1->0 successful=0',
      'imgbuild-select: slot=B cannot boot: \\EFI\\Linux\\imgbuild-usr-b.efi: Not Found; tries -> 0',
      'imgbuild-select: slot=A partition=3 priority=1 tries=0 successful=1',
    ]);
    expect(r.marker?.slot, r.log.slice(-3000)).toBe('A');

    const st = await imgbuild(['slot', 'status', image, '--json']);
    const slots = JSON.parse(st.stdout as string).slots as { slot: string; tries: number; successful: boolean }[];
    expect(slots.find((s) => s.slot === 'B')).toMatchObject({ tries: 0, successful: false });
    const v = await execa('sgdisk', ['-v', image]);
    expect(v.stdout).toContain('No problems found');
  });
});
