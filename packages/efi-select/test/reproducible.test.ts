/**
 * The selector builds reproducibly: two builds, the second from a copy of the sources in another
 * directory, give the same bytes; the PE header carries timestamp 0 and no COFF symbol table.
 */
import { execa } from 'execa';
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PACKAGE, tempDir } from './helpers.js';

const dir = tempDir('efi-select-repro-');

describe('reproducible build', () => {
  it('builds byte-identical artifacts from two source directories', async () => {
    const copy = join(dir, 'elsewhere/efi-select');
    cpSync(join(PACKAGE, 'src'), join(copy, 'src'), { recursive: true });
    cpSync(join(PACKAGE, 'test/host.c'), join(copy, 'test/host.c'));
    cpSync(join(PACKAGE, 'build.sh'), join(copy, 'build.sh'));
    await execa('bash', [join(PACKAGE, 'build.sh'), join(dir, 'one')]);
    // the copy has no repository around it: it is told where the extracted gnu-efi:arm64 is
    await execa('bash', [join(copy, 'build.sh'), join(dir, 'two')], { env: { GNU_EFI_AA64: join(PACKAGE, '../../.cache/foreign/arm64/gnu-efi') } });

    for (const f of ['imgbuild-select-x64.efi', 'imgbuild-select-aa64.efi', 'select-host']) {
      expect(readFileSync(join(dir, 'one', f)).equals(readFileSync(join(dir, 'two', f))), f).toBe(true);
    }
    // one source, two machines: x86-64 (0x8664) and arm64 (0xaa64), both EFI applications
    for (const [f, machine] of [['imgbuild-select-x64.efi', 0x8664], ['imgbuild-select-aa64.efi', 0xaa64]] as const) {
      const pe = readFileSync(join(dir, 'one', f));
      const at = pe.readUInt32LE(0x3c);
      expect(pe.toString('latin1', at, at + 4), f).toBe('PE\0\0');
      expect(pe.readUInt16LE(at + 4), `${f} Machine`).toBe(machine);
      expect(pe.readUInt32LE(at + 8), `${f} TimeDateStamp`).toBe(0);
      expect(pe.readUInt32LE(at + 12), `${f} PointerToSymbolTable (stripped)`).toBe(0);
      expect(pe.readUInt16LE(at + 24 + 68), `${f} subsystem EFI application`).toBe(10);
    }
  });
});
