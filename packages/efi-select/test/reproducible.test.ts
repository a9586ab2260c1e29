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
    await execa('bash', [join(copy, 'build.sh'), join(dir, 'two')]);

    for (const f of ['imgbuild-select.efi', 'select-host']) {
      expect(readFileSync(join(dir, 'one', f)).equals(readFileSync(join(dir, 'two', f))), f).toBe(true);
    }
    const pe = readFileSync(join(dir, 'one', 'imgbuild-select.efi'));
    const at = pe.readUInt32LE(0x3c);
    expect(pe.toString('latin1', at, at + 4)).toBe('PE\0\0');
    expect(pe.readUInt32LE(at + 8), 'TimeDateStamp').toBe(0);
    expect(pe.readUInt32LE(at + 12), 'PointerToSymbolTable (stripped)').toBe(0);
    expect(pe.readUInt16LE(at + 24 + 68), 'subsystem EFI application').toBe(10);
  });
});
